"""Plans as code: validate a plans file, apply it to the bot's catalog."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from bot.domain.limits import catalog_problems
from bot.domain.plans import Catalog, InvalidCatalog, PlanProblem, account_problems, parse_catalog
from bot.domain.strict_yaml import MAX_BYTES
from bot.services.ports import CatalogStore, Clock


def read_catalog(path: Path, *, accounts: Collection[str] | None = None) -> Catalog:
    """Parse and check a plans file, its sizes too (bot.domain.limits: what validates can run);
    InvalidCatalog names the file and each problem's path. With `accounts` (the bot's target accounts),
    a group in any other account is refused; None leaves accounts unchecked (the sandbox adds its
    accounts after reading its plans)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)  # enough to refuse a larger file without reading it all
    except OSError as error:
        raise InvalidCatalog(
            str(path), [PlanProblem(path="", message=f"cannot read: {error.strerror}")]
        ) from None
    catalog = parse_catalog(data, str(path))
    problems = catalog_problems(catalog)
    if accounts is not None:
        problems = [*problems, *account_problems(catalog, accounts)]
    if problems:
        raise InvalidCatalog(str(path), problems)
    return catalog


def apply_catalog(
    path: Path, store: CatalogStore, *, applied_by: str, clock: Clock, accounts: Collection[str]
) -> Catalog:
    """Replace the catalog with the file's, only if the whole file is valid and names no account
    outside `accounts` (the bot's target accounts)."""
    catalog = read_catalog(path, accounts=accounts)
    store.replace(catalog, applied_by=applied_by, now=clock())
    return catalog
