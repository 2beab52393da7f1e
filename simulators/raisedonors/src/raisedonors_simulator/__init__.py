"""Legacy RaiseDonors simulator: donors, channels, gifts, recent activity and the Virtuous integration settings."""
