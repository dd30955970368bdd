"""``/i18n``: the pages' side of the catalogue (``gridcrew.i18n``): its files and ``i18n.js``."""
