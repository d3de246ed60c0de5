"""The syncops console: a Textual app over the engine's Workspace."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from datetime import datetime
from typing import Callable

import orjson
from textual.app import App
from textual.binding import Binding

from engine.clock import system_clock
from engine.sync.run import AlreadyRunning, RunRequest, whoami
from engine.text import inert
from engine.workspace import Workspace
from themes import DEFAULT_THEME, TCSS_PATH, THEMES, pick_theme

from .commands import SyncopsCommands
from .messages import RunEnded, RunProgressed


class SyncopsApp(App):
    CSS_PATH = str(TCSS_PATH)
    TITLE = "syncops"
    COMMANDS = App.COMMANDS | {SyncopsCommands}
    BINDINGS = [
        Binding("q", "quit", "quit", priority=False),
        Binding("question_mark", "help", "help"),
        Binding("colon", "jump", "jump"),
    ]

    def __init__(self, ws: Workspace, read_only: bool = False, theme: str | None = None,
                 clock: Callable[[], datetime] = system_clock, poll_interval: float | None = 1.0,
                 actor: str | None = None, runs_in_process: bool = False) -> None:
        super().__init__()
        self.runs_in_process = runs_in_process
        self.ws = ws
        self.read_only = read_only
        self.clock = clock
        self.poll_interval = poll_interval
        self.actor = actor or whoami()
        self.requested_theme = pick_theme(theme, bool(os.environ.get("NO_COLOR")))
        self.live: dict[int, dict] = {}
        self.cancels: dict[int, Callable[[], None]] = {}
        self.finished: dict[int, dict] = {}
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = self.requested_theme

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """The app's own variables, so the stylesheet resolves under any theme."""
        return dict(THEMES[DEFAULT_THEME].variables)

    def on_mount(self) -> None:
        from .screens.profiles import ProfilesScreen

        self.call_after_refresh(gc.freeze)  # the app's long-lived objects need no more cyclic-GC scans
        for notice in self.ws.notices:
            self.notify(inert(notice, 500), title="store repaired", severity="warning", timeout=30, markup=False)
        self.push_screen(ProfilesScreen())

    # runs -------------------------------------------------------------------------------
    def start_run(self, profile_id: int, request: RunRequest, monitor: bool = True) -> bool:
        """Start a sync in a thread worker; the monitor shows it live, escape leaves it running."""
        if self.read_only:
            self.notify("read-only console: runs are disabled", severity="warning")
            return False
        if profile_id in self.cancels:
            self.notify("this profile is already running from this console", severity="warning")
            return False
        request.actor = request.actor or self.actor
        self.live[profile_id] = {"phase": "starting", "stats": {}, "totals": {}, "recent": [],
                                 "request": request.__dict__.copy(), "started": self.ws.now()}
        if self.runs_in_process:
            cancel = threading.Event()
            self.cancels[profile_id] = cancel.set
            work = lambda: self._run_in_thread(profile_id, request, cancel)  # noqa: E731
        else:
            process = spawn_run(self.ws, profile_id, request)
            self.cancels[profile_id] = process.terminate
            work = lambda: self._follow_process(profile_id, process)  # noqa: E731
        self.run_worker(work, thread=True, group=f"run-{profile_id}", exit_on_error=False, name=f"run {profile_id}")
        if monitor:
            from .screens.monitor import RunMonitorScreen

            self.push_screen(RunMonitorScreen(profile_id))
        return True

    def _run_in_thread(self, profile_id: int, request: RunRequest, cancel: threading.Event) -> None:
        ws = self.ws.clone()
        try:
            run = ws.run(profile_id, request, cancel=cancel,
                         on_progress=lambda update: self.post_message(RunProgressed(profile_id, update)))
            self.post_message(RunEnded(profile_id, run))
        except AlreadyRunning as exc:
            self.post_message(RunEnded(profile_id, None, str(exc)))
        except Exception as exc:  # shown to the operator, never a traceback on screen
            self.post_message(RunEnded(profile_id, None, f"{type(exc).__name__}: {inert(exc, 300)}"))

    def _follow_process(self, profile_id: int, process: subprocess.Popen) -> None:
        """Relay a `syncops run --progress-jsonl` child's lines as messages; it has its own GIL."""
        run, error = None, None
        for line in process.stdout:
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if "progress" in message:
                self.post_message(RunProgressed(profile_id, message["progress"]))
            run, error = message.get("run", run), message.get("error", error)
        process.wait()
        if run is None and error is None:
            error = f"the run process exited with status {process.returncode}: {inert(process.stderr.read(), 300)}"
        self.post_message(RunEnded(profile_id, run, error))

    def on_run_progressed(self, message: RunProgressed) -> None:
        live = self.live.setdefault(message.profile_id, {})
        live.update(message.update)
        self._tell_screens("show_progress", message.profile_id)

    def on_run_ended(self, message: RunEnded) -> None:
        self.cancels.pop(message.profile_id, None)
        live = self.live.pop(message.profile_id, {})
        if message.error:
            self.notify(message.error, severity="error", title="run not started" if "already" in message.error
                        else "run failed", markup=False)
        elif message.run:
            self.finished[message.profile_id] = message.run | {"recent": live.get("recent", [])}
            self.notify(f"run {message.run['run_id']} {message.run['status']}", markup=False,
                        severity="information" if message.run["status"] in ("succeeded", "partial") else "warning")
        self._tell_screens("run_ended", message.profile_id)

    def cancel_run(self, profile_id: int) -> bool:
        cancel = self.cancels.get(profile_id)
        if cancel is None:
            return False
        cancel()
        return True

    def _tell_screens(self, method: str, profile_id: int) -> None:
        for screen in self.screen_stack:
            handler = getattr(screen, method, None)
            if handler:
                handler(profile_id)

    # navigation --------------------------------------------------------------------------
    def open_profile(self, profile_id: int) -> None:
        from .screens.profile import ProfileScreen

        self.push_screen(ProfileScreen(profile_id))

    def open_record(self, key: str) -> None:
        from .screens.record import RecordScreen

        self.push_screen(RecordScreen(key.strip()))

    def action_jump(self) -> None:
        from .screens.modals import JumpModal

        def go(target: str | None) -> None:
            if not target:
                return
            try:
                self.open_profile(self.ws.profile(target).id)
            except LookupError:
                self.open_record(target)

        self.push_screen(JumpModal(), go)

    def action_help(self) -> None:
        from .screens.modals import HelpModal

        self.push_screen(HelpModal(self.screen))

    def copy_id(self, value: str) -> None:
        self.copy_to_clipboard(inert(value, 500))
        self.notify(f"copied {inert(value, 80)}", markup=False)


def spawn_run(ws: Workspace, profile_id: int, request: RunRequest) -> subprocess.Popen:
    """A run in its own process, so a 100k-record sync never stalls the console's event loop."""
    command = [sys.executable, "-m", "console.cli", "--data-dir", str(ws.layout.root), "run", str(profile_id),
               "--progress-jsonl", "--actor", request.actor]
    command += ["--full"] * request.full + ["--dry-run"] * request.dry_run
    command += ["--record", request.record] if request.record else []
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def make_app(ws: Workspace, read_only: bool = False, theme: str | None = None,
             clock: Callable[[], datetime] = system_clock, poll_interval: float | None = 1.0,
             actor: str | None = None, runs_in_process: bool = False) -> SyncopsApp:
    """One factory for `syncops`, the tests and the snapshots (which run syncs in-process, on their clock)."""
    return SyncopsApp(ws, read_only=read_only, theme=theme, clock=clock, poll_interval=poll_interval, actor=actor,
                      runs_in_process=runs_in_process)
