"""The preset table (data, not code). Importing this module registers every preset.

Entries are grouped by backend family in catalog_*.py modules, each one a list of
`register(PresetSpec(...))` calls.
"""

from mastertape.restoration import catalog_bandwidth, catalog_cleanup, catalog_space  # noqa: F401
