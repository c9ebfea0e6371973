"""The emulated vendor network: a generated 5G RAN, alarms, PM and notifications."""
