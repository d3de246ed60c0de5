"""Where each kind of data lives under the data dir (small hot files apart from large cold ones)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir


def default_data_dir() -> Path:
    return Path(os.environ.get("SYNCOPS_DATA_DIR") or user_data_dir("syncops"))


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def sandbox(self) -> Path:
        return self.root / "sandbox"

    @property
    def accounts_file(self) -> Path:
        return self.root / "accounts.toml"

    @property
    def sandbox_credentials(self) -> Path:
        return self.sandbox / "credentials.toml"

    def profile_dir(self, profile_id: int) -> Path:
        return self.store / "profiles" / str(profile_id)

    def history_dir(self, profile_id: int) -> Path:
        return self.store / "history" / str(profile_id)

    def create(self) -> None:
        """The data dir is private (0700): it holds customer data."""
        for folder in (self.root, self.store, self.locks):
            folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
