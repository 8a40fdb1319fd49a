"""Exceptions that carry the next action for the user.

Every error says which file, key or URL is at fault and what was expected, so the CLI can
print it without a traceback.
"""
from __future__ import annotations


class ImudataError(Exception):
    """Base class: an error the CLI reports as a message, not a traceback."""


class DatasetNotFound(ImudataError):
    """The dataset id is not in the registry, or is not downloaded / converted yet."""


class FetchError(ImudataError):
    """A download failed (HTTP error, too many retries, HTML page instead of a file)."""


class ChecksumMismatch(FetchError):
    """A file's sha256 differs from the pinned or recorded value."""


class UnsafeArchive(FetchError):
    """An archive member would land outside the extraction folder (zip-slip, absolute path, link)."""


class ManualDownloadRequired(FetchError):
    """The host needs a login, licence click or is unreachable; the message says what to do."""


class FormatError(ImudataError):
    """An original file does not have the layout its dataset's published format promises."""


class SchemaError(ImudataError):
    """A converted shard or dataset.json does not match the imudata format."""


class CorruptArchive(FetchError):
    """An archive cannot be read to the end (truncated download, damaged file): it must not be trusted."""


class ArchiveTooLarge(UnsafeArchive):
    """An archive would expand beyond the decompression limits (a zip bomb, or limits set too low)."""


class WriteFailed(FetchError):
    """A file could not be written (disk full, read-only, no permission): trying another URL will not help."""
