"""Registers syncframe-simulator-salesforce with syncframe (entry point ``salesforce_simulator``)."""
