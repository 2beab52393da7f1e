"""Mailchimp simulator: Marketing API v3 audiences, members, merge fields, tags, webhooks and its connection limit."""
