"""Everything that knows Mimecast API 2.0's wire format.

Pure (no I/O): `streams` (one StreamSpec per collection), `windows` (where a stream starts, when a
window opens and closes), `paging` (request for a cursor; (spec, cursor, response) -> step),
`records` (stable ids), `classify` (answer -> error). I/O, thin: `client` (httpx), `auth` (token
flow and the authorized `Session`), `batchfiles` (streamed gzip NDJSON), `fetcher` (pages of a
stream, the entry point for the `fetch` command and the Celery tasks).
"""
