"""Legacy RaiseDonors <-> Virtuous CRM+ contact sync for syncframe."""
