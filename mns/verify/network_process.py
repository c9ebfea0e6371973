"""The audit's second process: ``python -m mns.verify.network_process`` (see ``mns.verify.audit``).

A module of its own, so that running it does not import ``mns.verify.audit`` twice.
"""

from mns.verify.audit import network_process

if __name__ == "__main__":
    network_process()
