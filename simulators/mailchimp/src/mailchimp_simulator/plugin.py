"""Registers syncframe-simulator-mailchimp with syncframe (entry point ``mailchimp_simulator``)."""
