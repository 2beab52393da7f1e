"""Salesforce simulator: one org's REST API for Contacts (OAuth, CRUD, upsert by external id,
SOQL queries with paging, updated/deleted polling, API request limits) as
:class:`SalesforceSimulator` (registered as ``salesforce``). See ``docs/simulators/salesforce.md``.
"""

from salesforce_simulator.app import DEFAULT_API_VERSION, SalesforceSimulator
from salesforce_simulator.schema import CONTACT, EXTERNAL_ID_FIELD

__all__ = ["CONTACT", "DEFAULT_API_VERSION", "EXTERNAL_ID_FIELD", "SalesforceSimulator"]
