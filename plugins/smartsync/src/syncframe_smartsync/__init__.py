"""SmartSYNC-style transactional flows for syncframe (Raiser's Edge NXT, Mailchimp, Salesforce)."""
