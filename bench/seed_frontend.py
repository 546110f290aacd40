"""The seed system's own React frontend, built from its repository, run against slidebatch.

    PYTHONPATH=src .venv/bin/python bench/seed_frontend.py \
        --source https://github.com/WHUEugene/AIPPT [--work /tmp/seed-frontend] [--keep]

1. Clone the seed's repository (``--source``: a URL or a local git directory), and build
   ``frontend/`` with its own tooling: ``npm ci`` then ``npm run build`` (``tsc -b && vite
   build``). Its ``package-lock.json`` pins tarballs on ``registry.npmmirror.com``; they are
   fetched from ``registry.npmjs.org`` instead (same paths, same integrity hashes).
2. Start ``slidebatch serve`` on loopback (open mode) with the OpenRouter-shaped fake upstream
   as its image model, and a front server that serves the built ``dist/`` and forwards
   ``/api`` (and ``/assets`` files that are not the bundle's) to slidebatch, as the seed's
   ``vite.config.ts`` proxy does in development.
3. Drive Chromium (Playwright, /usr/bin/chromium) through the whole flow: open, settings page
   and its connection test, choose a template, paste a document, stream the outline, batch
   generate (the workspace starts it itself), insert a slide, regenerate a slide, regenerate
   one the upstream refuses (``[[fake:content_policy]]`` in its visual description: the page
   must report a failure), export PPTX, save, reopen from the project list, delete.
4. Every request the page makes to ``/api`` and ``/assets`` is recorded. The run fails if any
   call fails other than the one refusal, which must be an HTTP error status.

Prints one JSON summary (calls per endpoint and status, the checks, the failures).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer
from slidebatch.testing.serve_process import free_port, start_serve, stop_serve

SEED_REPO = "https://github.com/WHUEugene/AIPPT"
CHROMIUM = "/usr/bin/chromium"
UPSTREAM_KEY = "sk-or-v1-fake-key-for-the-seed-frontend-trial-000"
REFUSAL = "[[fake:content_policy]]"
TEMPLATE_NAME = "象牙红风格"
WAIT_MS = 120_000
DOCUMENT = """# 季度经营报告

## 业绩概览
- 收入同比增长 20%
- 净利润翻倍
- 新增企业客户 300 家

## 主要挑战
供应链依然紧张。核心岗位人员流动较大。海外市场回款周期变长。

## 下季度计划
1. 扩张华南渠道
2. 上线新一代产品
3. 建立客户成功团队
"""


# ---------------------------------------------------------------- build


def build_frontend(source: str, work: Path) -> Path:
    """Clone ``source`` into ``work`` and build its frontend; return the ``dist`` folder."""
    work.mkdir(parents=True, exist_ok=True)
    checkout = work / "AIPPT"
    if not checkout.exists():
        _run(["git", "clone", "--depth", "1", source, str(checkout)], work)
    frontend = checkout / "frontend"
    lock = frontend / "package-lock.json"
    lock.write_text(
        lock.read_text("utf-8").replace(
            "https://registry.npmmirror.com/", "https://registry.npmjs.org/"
        ),
        "utf-8",
    )
    if not (frontend / "node_modules").exists():
        _run(["npm", "ci", "--no-audit", "--no-fund"], frontend)
    _run(["npm", "run", "build"], frontend)
    return frontend / "dist"


def _run(command: list[str], cwd: Path) -> None:
    print("$", " ".join(command), file=sys.stderr)
    subprocess.run(command, cwd=cwd, check=True, stdout=sys.stderr)  # stdout: the summary


# ---------------------------------------------------------------- serve


def front_app(dist: Path, backend: str) -> Starlette:
    """``dist/`` as static files; ``/api/*`` and unknown ``/assets/*`` forwarded to ``backend``."""
    clients: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Made and closed on the server's own loop, so no connection outlives it.
        async with httpx.AsyncClient(base_url=backend, timeout=600) as client:
            clients.append(client)
            yield

    async def forward(request: Request) -> Response:
        client = clients[0]
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}
        }
        upstream = client.build_request(
            request.method,
            request.url.path,
            params=request.query_params,
            headers=headers,
            content=await request.body(),
        )
        answer = await client.send(upstream, stream=True)
        kept = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in {"content-length", "transfer-encoding", "connection"}
        }
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers=kept,
            background=BackgroundTask(answer.aclose),
        )

    built = {f.relative_to(dist).as_posix() for f in dist.rglob("*") if f.is_file()}

    async def static(request: Request) -> Response:
        path = request.url.path.lstrip("/") or "index.html"
        if path in built:
            return FileResponse(dist / path)
        if path.startswith("assets/"):
            return await forward(request)  # an image the seed saved, not the bundle's
        return FileResponse(dist / "index.html")

    methods = ["GET", "POST", "PUT", "DELETE"]
    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/api/{rest:path}", forward, methods=methods),
            Route("/{rest:path}", static, methods=["GET"]),
        ],
    )


@contextmanager
def serving(app: Starlette, port: int) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def slidebatch(root: Path, upstream: FakeUpstreamServer) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {
        "DATA_DIR": str(root / "data"),
        "LOG_DIR": str(root / "logs"),
        "IMAGE_PROVIDER": "openrouter",
        "LLM_API_KEY": UPSTREAM_KEY,
        "LLM_API_BASE": upstream.openrouter_base,
        "RETRY_BASE_SECONDS": "0.01",
        "RETRY_MAX_SECONDS": "0.05",
    }
    log = (root / "serve.log").open("wb")
    process = start_serve(port=port, env=env, cwd=root, output=log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_serve(process)
        log.close()


# ---------------------------------------------------------------- the flow


@dataclass
class Trial:
    """What the page asked for and what it got."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)

    def record(self, method: str, url: str, status: int | None, error: str | None) -> None:
        path = url.split("://", 1)[-1].partition("/")[2]
        self.calls.append(
            {
                "method": method,
                "path": "/" + path.split("?", 1)[0],
                "status": status,
                "error": error,
            }
        )

    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["error"] or (c["status"] or 0) >= 400]

    def summary(self) -> dict[str, Any]:
        refusals = [c for c in self.failures() if c["path"] == "/api/slide/generate"]
        unexpected = [c for c in self.failures() if c not in refusals[:1]]
        per_endpoint = Counter(
            f"{c['method']} {_shape(c['path'])} {c['status']}" for c in self.calls
        )
        return {
            "calls": len(self.calls),
            "per_endpoint": dict(sorted(per_endpoint.items())),
            "checks": self.checks,
            "expected_refusal": refusals[:1],
            "console_errors": self.console_errors,
            "unexpected_failures": unexpected,
            "ok": not unexpected
            and len(refusals) == 1
            and self.checks.get("flow_completed") is True
            and all(v is not False for v in self.checks.values()),
        }


def _shape(path: str) -> str:
    parts = path.split("/")
    return "/".join("{id}" if len(p) >= 24 or p.endswith((".png", ".jpg")) else p for p in parts)


def run_flow(base: str, downloads: Path, trial: Trial) -> None:
    """Drive the seed's pages in Chromium; fills ``trial``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1600, "height": 1000}
        )
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("dialog", lambda dialog: dialog.accept())

        def on_response(response: Any) -> None:
            ours = "/api/" in response.url or "/assets/" in response.url
            if ours and "/assets/index-" not in response.url:  # not the bundle itself
                trial.record(response.request.method, response.url, response.status, None)

        def on_failed(request: Any) -> None:
            if "/api/" in request.url:
                trial.record(request.method, request.url, None, request.failure or "failed")

        page.on("response", on_response)
        page.on(
            "console",
            lambda m: trial.console_errors.append(m.text[:200]) if m.type == "error" else None,
        )
        page.on("requestfailed", on_failed)
        try:
            _flow(page, base, downloads, trial)
        except Exception as exc:  # report where the flow stopped, with a screenshot
            trial.checks["flow_completed"] = False
            trial.checks["flow_error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
            page.screenshot(path=str(downloads / "failure.png"))
        else:
            trial.checks["flow_completed"] = True
        browser.close()


def _flow(page: Any, base: str, downloads: Path, trial: Trial) -> None:
    """The seed frontend's whole path, in three parts; each fills ``trial.checks``."""
    _start_project(page, base, trial.checks)
    _edit_slides(page, trial.checks)
    _export_reopen_delete(page, base, downloads, trial.checks)


def _start_project(page: Any, base: str, checks: dict[str, Any]) -> None:
    page.goto(f"{base}/#/")
    page.get_by_text("AI-PPT Flow").first.wait_for()

    # Settings: the page loads /api/config (key masked) and runs the connection test.
    page.get_by_text("系统设置").click()
    page.get_by_text("测试AI服务连接").first.click()
    page.get_by_text("connected").first.wait_for()
    checks["settings_key_masked"] = UPSTREAM_KEY not in page.content()
    page.goto(f"{base}/#/")

    # New project: templates (built-ins with /api/placeholder covers); extract a new style
    # from a reference image (analyze-stream), save it (template/save) and use it.
    page.get_by_text("开始新项目").click()
    page.get_by_text("北大典雅学术版").first.wait_for()
    page.get_by_text("提取新风格").click()
    page.get_by_placeholder("模版名称").fill(TEMPLATE_NAME)
    page.locator("input[type=file]").set_input_files(
        {"name": "reference.png", "mimeType": "image/png", "buffer": _reference_png()}
    )
    page.get_by_role("button", name="开始 AI 分析").click()
    page.get_by_text("模板分析完成").first.wait_for()
    checks["style_prompt_has_palette"] = "#8B0012" in page.content()
    page.get_by_role("button", name="保存并使用此模版").click()
    page.get_by_text(f"使用模板: {TEMPLATE_NAME}").wait_for()
    page.locator("input").first.fill("季度经营报告")
    page.locator("input[type=range]").fill("6")
    page.locator("textarea").first.fill(DOCUMENT)
    page.get_by_role("button", name="AI 生成大纲").click()
    page.get_by_text("大纲生成完成").first.wait_for()
    checks["outline_slides"] = page.get_by_text("文字内容").count()
    page.get_by_role("button", name="下一步").click()


def _edit_slides(page: Any, checks: dict[str, Any]) -> None:
    # The workspace starts the batch itself, then saves the project.
    page.get_by_text("项目已自动保存").first.wait_for()
    checks["batch_images"] = page.locator("img[alt^='第']").count()

    # Insert a slide between pages 2 and 3 (outline/insert-slide).
    page.get_by_label("在第 2 页后插入一页").click()
    page.locator("textarea[placeholder^='例如']").fill(
        "客户案例：华南某制造企业上线三个月后交付周期缩短 30%"
    )
    page.get_by_text("生成新增页内容").click()
    page.get_by_text("第 7 页").first.wait_for()

    # Regenerate the inserted slide (it is selected after the insert).
    page.get_by_role("button", name="重新生成图片").click()
    page.get_by_text("重绘完成").first.wait_for()

    # A slide the upstream refuses: the page must say it failed.
    page.get_by_text("第 4 页", exact=True).first.click()
    visual = page.locator("textarea[placeholder^='描述这一页']")
    visual.fill(visual.input_value() + " " + REFUSAL)
    page.get_by_role("button", name="更新并重绘").click()
    page.get_by_text("重绘失败").first.wait_for()
    checks["refusal_reported"] = True
    visual.fill(visual.input_value().replace(REFUSAL, "").strip())


def _export_reopen_delete(page: Any, base: str, downloads: Path, checks: dict[str, Any]) -> None:
    # Export PPTX: one file, named once, with every slide.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="导出 PPTX").click()
    download = download_info.value
    target = downloads / download.suggested_filename
    download.save_as(target)
    checks["export_name"] = download.suggested_filename
    checks["export_slides"] = _pptx_slides(target.read_bytes())

    # Save, then reopen from the project list.
    page.get_by_role("button", name="保存项目").click()
    page.get_by_text("项目已保存").first.wait_for()
    page.get_by_role("button", name="我的项目").click()
    page.get_by_text("季度经营报告").first.wait_for()
    checks["list_thumbnail"] = page.locator("img[alt='季度经营报告']").count() == 1
    page.get_by_text("季度经营报告").first.click()
    page.get_by_text("第 7 页").first.wait_for()
    checks["reopened_images"] = page.locator("img[alt^='第']").count()

    # Delete it from the list.
    page.get_by_role("button", name="我的项目").click()
    card = page.locator("div.group").filter(has_text="季度经营报告").first
    card.hover()
    card.locator("button").first.click()
    page.get_by_text("还没有项目").wait_for()
    checks["deleted"] = True

    # The saved template is listed with its cover (stored under /assets/templates).
    page.goto(f"{base}/#/templates")
    cover = page.locator(f"img[alt='{TEMPLATE_NAME}']")
    cover.wait_for()
    checks["template_cover_loaded"] = page.evaluate(
        "img => img.complete && img.naturalWidth > 0", cover.element_handle()
    )


def _reference_png() -> bytes:
    """A slide-like reference image: ivory background, a Peking-red title band."""
    from PIL import Image

    image = Image.new("RGB", (480, 270), (245, 241, 232))
    image.paste((139, 0, 18), (0, 0, 480, 70))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _pptx_slides(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(
            1
            for name in archive.namelist()
            if name.startswith("ppt/slides/slide") and name.endswith(".xml")
        )


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=SEED_REPO, help="git URL or directory of the seed")
    parser.add_argument("--work", type=Path, help="build folder (default: a temporary one)")
    parser.add_argument("--dist", type=Path, help="an already built dist/ (skips the build)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="seed-frontend-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        dist = args.dist or build_frontend(args.source, work)
        summary = trial_against(dist, work)
    finally:
        if args.work is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0 if summary["ok"] else 1


def trial_against(dist: Path, work: Path) -> dict[str, Any]:
    """Serve ``dist`` in front of a fresh slidebatch and run the flow; the summary."""
    root = work / "run"
    shutil.rmtree(root, ignore_errors=True)
    (root / "downloads").mkdir(parents=True)
    config = FakeUpstreamConfig(
        rpm=None, latency_median=0.05, latency_p95=0.2, expected_api_key=UPSTREAM_KEY
    )
    trial = Trial()
    with FakeUpstreamServer(config) as upstream, slidebatch(root, upstream) as backend:
        port = free_port()
        with serving(front_app(dist, backend), port):
            run_flow(f"http://127.0.0.1:{port}", root / "downloads", trial)
    return trial.summary()


if __name__ == "__main__":
    sys.exit(main())
