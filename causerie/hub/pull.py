"""``models pull``: one GGUF from the Hugging Face Hub into the models directory.

Everything on the wire goes through ``huggingface_hub``: ``HfApi.model_info`` (the repo's files
with their sizes and LFS sha256), ``get_hf_file_metadata`` (the HEAD of the file's resolve URL)
and ``http_get`` (the GET, with its tqdm progress bar, its Range requests and its retries). It
reads ``HF_TOKEN`` itself; ``HF_ENDPOINT`` is read here at each pull (the library reads it once,
at import), so a mirror set in the environment is used.

Why not ``hf_hub_download``: since huggingface_hub 1.x it downloads to a temporary file unique to
the call and deletes it on failure, so an interrupted pull would start again from zero. Here the
partial file is kept in ``.partial/`` under the models directory and the next pull of the same
file asks only for the rest (a Range request); it lands under its name only once its sha256
equals the hub's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from causerie.errors import CauserieError
from causerie.hub.catalog import choose_file, parse_name

PARTIAL_DIR = ".partial"
DISK_MARGIN = 64 * 1024 * 1024  # kept free beyond the file itself
HASH_CHUNK = 8 * 1024 * 1024


class PullError(CauserieError):
    """A pull that cannot be done or did not succeed; the message says why and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """The file a pull chose, as the hub describes it."""

    repo: str
    filename: str
    revision: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PullResult:
    path: Path
    remote: RemoteFile
    resumed_from: int  # bytes already there from an interrupted pull
    already_present: bool


def hub_endpoint() -> str | None:
    """``HF_ENDPOINT`` as it is now (None: huggingface_hub's default, huggingface.co)."""
    return os.environ.get("HF_ENDPOINT") or None


def free_space(directory: Path) -> int:
    """Free bytes on the file system of ``directory`` (the disk space check's one input)."""
    return shutil.disk_usage(directory).free


def describe_remote(name: str) -> RemoteFile:
    """Resolve NAME and ask the hub for the chosen file's revision, size and sha256."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    target = parse_name(name)
    try:
        info = HfApi(endpoint=hub_endpoint()).model_info(target.repo, files_metadata=True)
    except GatedRepoError as exc:
        raise PullError(
            f"{target.repo} is gated: accept its terms on the hub, set HF_TOKEN"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise PullError(f"no repo {target.repo} on the hub (private? set HF_TOKEN)") from exc
    except (HfHubHTTPError, OSError) as exc:
        raise PullError(f"cannot reach the hub for {target.repo}: {exc}") from exc
    siblings = {s.rfilename: s for s in info.siblings or []}

    def size_of(filename: str) -> int:
        sibling = siblings[filename]
        return (sibling.lfs.size if sibling.lfs else None) or sibling.size or 0

    filename = choose_file(target.repo, sorted(siblings, key=size_of), target.selector)
    lfs = siblings[filename].lfs
    if lfs is None or not lfs.sha256:
        raise PullError(f"the hub gives no sha256 for {target.repo}/{filename}: not pulled")
    return RemoteFile(target.repo, filename, info.sha or "main", size_of(filename), lfs.sha256)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_disk_space(models_dir: Path, needed: int) -> None:
    """Refuse before downloading when the models directory's disk cannot hold ``needed`` bytes
    and the margin."""
    free = free_space(models_dir)
    if free < needed + DISK_MARGIN:
        raise PullError(
            f"not enough disk space in {models_dir}: the download needs {needed:,} bytes "
            f"(+{DISK_MARGIN:,} kept free), {free:,} are free"
        )


def download(remote: RemoteFile, partial: Path) -> None:
    """Download (the rest of) ``remote`` into ``partial``, appending to what it already holds."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazy export

    url = hf_hub_url(
        remote.repo, remote.filename, revision=remote.revision, endpoint=hub_endpoint()
    )
    headers = build_hf_headers()  # HF_TOKEN, when set
    location = get_hf_file_metadata(url, endpoint=hub_endpoint()).location
    if urlparse(location).netloc != urlparse(url).netloc:
        headers.pop("authorization", None)  # a CDN's signed URL: the token stays with the hub
    with partial.open("ab") as file:
        http_get(
            location,
            file,
            resume_size=file.tell(),
            headers=headers,
            expected_size=remote.size,
            displayed_filename=Path(remote.filename).name,
        )


def pull(
    name: str, models_dir: Path, observe: Callable[[RemoteFile, Path], None] | None = None
) -> PullResult:
    """Pull NAME into ``models_dir``: resolve, check the disk, download or resume, verify.
    ``observe`` learns the file chosen and the partial file it grows in, before the download."""
    remote = describe_remote(name)
    target = models_dir / Path(remote.filename).name
    models_dir.mkdir(parents=True, exist_ok=True)
    if target.is_file() and sha256_of(target) == remote.sha256:
        return PullResult(target, remote, 0, already_present=True)
    partial = models_dir / PARTIAL_DIR / f"{target.name}.part"
    partial.parent.mkdir(exist_ok=True)
    have = partial.stat().st_size if partial.is_file() else 0
    if have > remote.size:  # not a prefix of this file: start again
        partial.unlink()
        have = 0
    check_disk_space(models_dir, remote.size - have)
    if observe is not None:
        observe(remote, partial)
    try:
        download(remote, partial)
    except Exception as exc:  # network, HTTP or disk: the partial file stays for the next pull
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise PullError(
            f"download of {remote.repo}/{remote.filename} interrupted ({reason}); "
            f"{partial.stat().st_size if partial.is_file() else 0:,} of {remote.size:,} bytes "
            "kept: run the same pull again to resume"
        ) from exc
    actual = sha256_of(partial)
    if actual != remote.sha256:
        partial.unlink()
        raise PullError(
            f"checksum mismatch for {remote.filename}: the hub says sha256 {remote.sha256}, "
            f"the download has {actual}; the file was deleted"
        )
    os.replace(partial, target)
    return PullResult(target, remote, have, already_present=False)
