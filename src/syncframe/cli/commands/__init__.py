"""The built-in commands of ``syncframe``: one module per topic, each with ``register``."""
