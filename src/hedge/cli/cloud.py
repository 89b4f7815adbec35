"""`hedge cloud`: the untrusted cloud service."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from hedge.cli._common import CertFile, KeyFile, console, tls_options
from hedge.cloud import CloudService
from hedge.cloud.app import DEFAULT_MAX_EVALUATIONS, DEFAULT_MAX_UPLOAD, DEFAULT_MIN_JOB_ROWS
from hedge.cloud.worker import worker_main

_RAY_HELP = ("Run the per-block work of training jobs on a Ray cluster: its address, or 'local' "
             "to start one per worker (needs hedge's 'ray' extra).")

app = typer.Typer(help="The cloud service: stores ciphertexts, runs jobs, holds no secret key.",
                  no_args_is_help=True)


@app.command("serve")
def serve(
    data_dir: Annotated[Path, typer.Option(help="Where the cloud keeps its files.")] = Path(
        "hedge-cloud"),
    db_url: Annotated[str | None, typer.Option(
        help="Metadata database (default: SQLite in the data directory), e.g. "
             "postgresql+psycopg://hedge@127.0.0.1/hedge.", envvar="HEDGE_CLOUD_DB")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8700,
    max_upload: Annotated[int, typer.Option(help="Largest upload, bytes.")] = DEFAULT_MAX_UPLOAD,
    min_job_rows: Annotated[int, typer.Option(
        help="Refuse jobs over fewer rows (the owner decrypts what they compute); 0: no "
             "minimum.", min=0)
    ] = DEFAULT_MIN_JOB_ROWS,
    max_evaluations: Annotated[int, typer.Option(
        help="Evaluation jobs that may name the same uploads (the owner chooses each one's "
             "model: many could read rows off the counts).", min=1)
    ] = DEFAULT_MAX_EVALUATIONS,
    ssl_certfile: CertFile = None,
    ssl_keyfile: KeyFile = None,
    client_ca: Annotated[Path | None, typer.Option(
        help="Mutual TLS: accept only clients with a certificate from these CAs (PEM, e.g. "
             "the owner's tls/cloud/client-ca.pem; concatenate several owners' CAs).")] = None,
    workers: Annotated[int, typer.Option(help="Job worker processes to start.", min=0)] = 1,
    stale_seconds: Annotated[float, typer.Option(
        help="Requeue running jobs whose worker has been silent this long.")] = 60.0,
    ray: Annotated[str | None, typer.Option(
        help=_RAY_HELP)] = None,
    key_service: Annotated[list[str] | None, typer.Option(
        help="URL prefix of an owner's key service that assisted-training jobs may name "
             "(repeat the option); without any, the cloud runs no assisted training (the "
             "workers connect to no URL an owner names).")] = None,
) -> None:
    """Serve the cloud API (OpenAPI at /docs) and start job workers. The admin token, which
    creates consortia, is written to DATA_DIR/admin.token on first start."""
    tls = tls_options(host, ssl_certfile, ssl_keyfile, client_ca)
    service = CloudService(data_dir, db_url, max_upload=max_upload,
                           key_services=tuple(key_service or ()), min_job_rows=min_job_rows,
                           max_evaluations=max_evaluations)
    console.print(f"cloud data in {data_dir} (database {service.db.url.split('@')[-1]}); admin "
                  f"token in {service.admin_token_path}", highlight=False)
    spawn = multiprocessing.get_context("spawn")
    worker_args = (str(data_dir), db_url, stale_seconds, os.getpid(), ray)
    procs = [spawn.Process(target=worker_main, args=worker_args, daemon=True)
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    stop = threading.Event()

    def supervise() -> None:  # a worker that died (out of memory, a bug) is replaced
        while not stop.wait(2.0):
            for i, proc in enumerate(procs):
                if not proc.is_alive():
                    console.print(f"[yellow]worker {proc.pid} exited ({proc.exitcode}); "
                                  "starting another[/yellow]")
                    procs[i] = spawn.Process(target=worker_main, args=worker_args,
                                             daemon=True)
                    procs[i].start()

    threading.Thread(target=supervise, daemon=True).start()
    try:
        uvicorn.run(service.app(), host=host, port=port, log_level="info", **tls)
    finally:
        stop.set()
        for proc in procs:
            proc.terminate()
            proc.join(10)
        service.close()


@app.command("worker")
def worker(
    data_dir: Annotated[Path, typer.Option(help="The cloud's data directory.")] = Path(
        "hedge-cloud"),
    db_url: Annotated[str | None, typer.Option(help="Metadata database URL.",
                                               envvar="HEDGE_CLOUD_DB")] = None,
    stale_seconds: Annotated[float, typer.Option(
        help="Requeue running jobs whose worker has been silent this long.")] = 60.0,
    ray: Annotated[str | None, typer.Option(help=_RAY_HELP)] = None,
) -> None:
    """Run one job worker (more processes, more jobs at once; any machine that sees the
    database and the data directory)."""
    worker_main(str(data_dir), db_url, stale_seconds, ray=ray)
