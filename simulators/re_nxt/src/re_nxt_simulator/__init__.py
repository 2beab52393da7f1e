"""Raiser's Edge NXT simulator: a SKY API with constituents, emails, addresses, consents, solicit codes, OAuth and quotas."""
