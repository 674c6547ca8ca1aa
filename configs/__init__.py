"""Shipped build configs: `stylectl ls` lists them, `stylectl init` copies one."""
