"""One module per dataset; each defines ``SPEC`` (an ``imudata.registry.DatasetSpec``)."""
