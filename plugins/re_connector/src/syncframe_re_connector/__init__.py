"""The Raiser's Edge connector for Luminate Online: the connector machine Luminate's data sync
calls.

On Luminate's upload call it reads RE's changed constituents and code tables and publishes them
as CSV files with their manifests on the site's ``shortname_ds`` FTP server; on the download call
it moves Luminate's files from the FTP server into RE's import area. Built from ordinary
syncframe components, so cursors, exactly-once delivery, failed records and run history are the
engine's. Registered through the entry point ``re_connector`` (``syncframe_re_connector.plugin``);
see ``docs/re-connector.md``.
"""
