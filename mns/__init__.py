"""twin-mns: a network digital twin exposed through 3GPP SA5 management services."""
