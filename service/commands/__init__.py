"""The ``newsletter`` command's subcommands, one module per purpose; service.cli assembles them."""
