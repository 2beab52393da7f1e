"""Luminate Online simulator: SOAP 1.1 web services with a WSDL, Constituent360, refunds and the
standard constituent upload, as one :class:`LuminateSimulator` (registered as ``luminate``)."""

from luminate_simulator.app import DEFAULT_SITE, LuminateSimulator

__all__ = ["DEFAULT_SITE", "LuminateSimulator"]
