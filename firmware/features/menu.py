"""Voice menus (auto-attendant), issue 6 item 4: multi-level menus as data, driven by digits.

A `Menu` is a tree of `MenuNode`s. Each node has a greeting per operating mode (the mode name —
"day", "night", "lunch", "holiday" — comes from the schedule and is an input), key bindings
(department, employee, queue, voicemail, fax, sub-menu, repeat, back, dial-an-extension) and a
default destination. The numbers met:

- no input for `timeout_s` (5 s) after the greeting ends → the node's default destination;
- an invalid key → "That is not a valid option." and the greeting again, `max_invalid` (3) times,
  then the default destination: a caller is never left in a loop or in silence;
- dial-by-extension (DISA-style direct dial): from any greeting with `direct_dial` on, digits
  that begin an extension of `Menu.extensions` are collected with an inter-digit timeout of
  `digit_timeout_s` (3 s); a full match transfers at once when no longer extension shares the
  prefix, otherwise at the timeout or on "#". A single digit that is both a key and the start of
  an extension waits the inter-digit timeout, then acts as the key;
- a fax calling tone (`FaxToneDetected`, CNG 1100 Hz per ITU-T T.30 §5.3.1, detected by the
  media layer) → the fax destination at any time.

Any digit while a prompt plays stops it (`StopPrompt`, barge-in). Pure (style rule 1): `now` is
the board's monotonic clock in seconds; the controller plays `PlayPrompt`, tells the session
when it finished, calls `handle_timers(now)` at `next_deadline()` and executes `Transfer`.
Greeting prompt ids are the installer's recordings (`firmware/media/prompts.py`
`install_upload`); the session's own prompts come from `firmware/media/prompt_catalog.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from firmware.config.schema import ID_HINT, ID_PATTERN, setting
from firmware.features.destination import Destination, DestinationKind

log = logging.getLogger(__name__)

KEYS = frozenset("0123456789*#")
"""DTMF keys a binding may use."""
PROMPT_INVALID = "invalid_option"
PROMPT_ENTER_EXTENSION = "enter_extension"
PROMPT_TRANSFER = "transfer.please_wait"


class KeyAction(StrEnum):
    """What a key does (the installer's words)."""

    DEPARTMENT = "department"
    EMPLOYEE = "employee"
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    FAX = "fax"
    SUBMENU = "submenu"
    REPEAT = "repeat"
    BACK = "back"
    DIAL_EXTENSION = "dial_extension"
    EXTERNAL = "external"


_TRANSFERRING = {
    KeyAction.DEPARTMENT: DestinationKind.DEPARTMENT,
    KeyAction.EMPLOYEE: DestinationKind.EMPLOYEE,
    KeyAction.QUEUE: DestinationKind.QUEUE,
    KeyAction.VOICEMAIL: DestinationKind.VOICEMAIL,
    KeyAction.FAX: DestinationKind.FAX,
    KeyAction.EXTERNAL: DestinationKind.EXTERNAL,
}
"""Actions that end the menu with a transfer, and the destination kind each gives."""


@dataclass(frozen=True, slots=True)
class KeyBinding:
    """One key of a node: `KeyBinding("2", KeyAction.QUEUE, "support")`."""

    key: str = field(metadata=setting("DTMF key: 0-9, * or #.", pattern=r"[0-9*#]",
                                      pattern_hint="one of 0-9, * or #", example='"1"'))
    action: KeyAction = field(metadata=setting("What the key does."))
    target: str = field(
        default="",
        metadata=setting("Department, user, queue, mailbox or menu-node id, or the external "
                         "number; empty for repeat, back and dial_extension (fax: empty = the "
                         "menu's fax destination).", maximum=32),
    )


@dataclass(frozen=True, slots=True)
class ModeGreeting:
    """The greeting a node plays in one operating mode."""

    mode: str = field(metadata=setting("Operating mode name from the schedule.", minimum=1,
                                       maximum=32, pattern=ID_PATTERN, pattern_hint=ID_HINT,
                                       example="night"))
    prompts: tuple[str, ...] = field(metadata=setting("Prompt ids played in order.", minimum=1,
                                                      example='["menu.main.night"]'))


@dataclass(frozen=True, slots=True)
class MenuNode:
    """One level of a menu."""

    id: str = field(metadata=setting("Node id, unique in the menu.", minimum=1, maximum=32,
                                     pattern=ID_PATTERN, pattern_hint=ID_HINT, example="main"))
    greeting: tuple[str, ...] = field(metadata=setting(
        "Prompt ids of the greeting in modes without their own.", minimum=1,
        example='["menu.main"]'))
    default: Destination = field(metadata=setting(
        "Where the call goes after the no-input timeout or too many invalid keys."))
    keys: tuple[KeyBinding, ...] = field(default=(), metadata=setting("Key bindings.",
                                                                      unique=True))
    mode_greetings: tuple[ModeGreeting, ...] = field(default=(), metadata=setting(
        "Greetings for particular operating modes."))
    timeout_s: float = field(default=5.0, metadata=setting(
        "Seconds of no input after the greeting before the default destination.", unit="s",
        minimum=1.0, maximum=60.0))
    max_invalid: int = field(default=3, metadata=setting(
        "Invalid entries re-prompted before the default destination.", minimum=0,
        maximum=10))
    direct_dial: bool = field(default=True, metadata=setting(
        "The caller may dial an extension straight from the greeting."))

    def binding(self, key: str) -> KeyBinding | None:
        """The binding of `key`, or None."""
        return next((b for b in self.keys if b.key == key), None)

    def greeting_for(self, mode: str) -> tuple[str, ...]:
        """The greeting of `mode`, or the node's general greeting."""
        return next((g.prompts for g in self.mode_greetings if g.mode == mode), self.greeting)


class MenuError(ValueError):
    """A menu definition that cannot work; the message names the node and the fix."""


@dataclass(frozen=True, slots=True)
class Menu:
    """A voice menu: nodes (the first is the root), the extension set and the fax destination."""

    id: str = field(metadata=setting("Menu id, used by routes.", minimum=1, maximum=32,
                                     pattern=ID_PATTERN, pattern_hint=ID_HINT, example="main"))
    nodes: tuple[MenuNode, ...] = field(metadata=setting("Menu levels; the first is the top.",
                                                         minimum=1))
    extensions: frozenset[str] = field(default=frozenset(), metadata=setting(
        "Extensions a caller may dial directly (filled from users and departments)."))
    fax: Destination | None = field(default=None, metadata=setting(
        "Where calls with a fax tone go; unset: fax tones are ignored."))
    digit_timeout_s: float = field(default=3.0, metadata=setting(
        "Inter-digit timeout when dialling an extension.", unit="s", minimum=1.0,
        maximum=10.0))

    def __post_init__(self) -> None:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise MenuError(f"menu {self.id!r}: node ids repeat: {ids}")
        for node in self.nodes:
            keys = [b.key for b in node.keys]
            if len(set(keys)) != len(keys):
                raise MenuError(f"menu {self.id!r} node {node.id!r}: a key is bound twice")
            for b in node.keys:
                if b.key not in KEYS:
                    raise MenuError(f"menu {self.id!r} node {node.id!r}: {b.key!r} is no key")
                if b.action is KeyAction.SUBMENU and b.target not in ids:
                    raise MenuError(
                        f"menu {self.id!r} node {node.id!r} key {b.key}: no node {b.target!r}"
                    )
                if b.action in _TRANSFERRING and not b.target and b.action is not KeyAction.FAX:
                    raise MenuError(
                        f"menu {self.id!r} node {node.id!r} key {b.key}: {b.action} needs a target"
                    )
                if b.action is KeyAction.FAX and not b.target and self.fax is None:
                    raise MenuError(f"menu {self.id!r}: key {b.key} sends to fax, set `fax`")

    def node(self, node_id: str) -> MenuNode:
        """The node called `node_id`; raises KeyError."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


# --- inputs and outputs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FaxToneDetected:
    """The media layer heard a fax calling tone (CNG) on the call."""

    at: float


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    """Play these prompts in order, then call `on_prompt_finished`."""

    prompt_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StopPrompt:
    """Stop the prompt now playing (the caller pressed a key)."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """The menu is done: continue the call at `destination`."""

    destination: Destination


MenuAction = PlayPrompt | StopPrompt | Transfer


class MenuState(Enum):
    """Where a session is."""

    IDLE = "idle"
    PROMPTING = "prompting"
    WAITING = "waiting"
    COLLECTING = "collecting"
    DONE = "done"


class MenuSession:
    """One caller in one menu. Every method returns the actions to perform, in order."""

    def __init__(self, menu: Menu, mode: str, now: float) -> None:
        del now  # part of the core's shape; nothing is timed before start()
        self.menu = menu
        self.mode = mode
        self.state = MenuState.IDLE
        self._path: list[MenuNode] = [menu.nodes[0]]
        self._invalid = 0
        self._digits = ""
        self._collect_only = False  # entered by a dial_extension key: keys do not apply
        self._deadline: float | None = None
        self._playing = False
        self.result: Destination | None = None

    @property
    def node(self) -> MenuNode:
        """The node the caller is in."""
        return self._path[-1]

    def start(self) -> list[MenuAction]:
        """Play the top node's greeting."""
        return self._enter(self.node)

    def next_deadline(self) -> float | None:
        """When `handle_timers` must run next; None while a prompt plays or when done."""
        return self._deadline

    def on_prompt_finished(self, now: float) -> list[MenuAction]:
        """The prompt asked for last has ended; the no-input timer starts."""
        self._playing = False
        if self.state is MenuState.PROMPTING:
            self.state = MenuState.WAITING
            self._deadline = now + self.node.timeout_s
        return []

    def on_fax_tone(self, event: FaxToneDetected) -> list[MenuAction]:
        """A fax machine is calling: send it to the fax destination (ignored if none is set)."""
        if self.state is MenuState.DONE:
            return []
        if self.menu.fax is None:
            log.info("menu %r: fax tone at %.1f s but no fax destination", self.menu.id, event.at)
            return []
        return [*self._stop(), *self._transfer(self.menu.fax)]

    def on_digit(self, digit: str, now: float) -> list[MenuAction]:
        """A DTMF digit from the caller (barge-in stops the prompt)."""
        if self.state in (MenuState.DONE, MenuState.IDLE) or digit not in KEYS:
            return []
        out = self._stop()
        if self.state is MenuState.COLLECTING:
            return out + self._collect(digit, now)
        node = self.node
        starts_extension = node.direct_dial and self._prefix_of_extension(digit)
        if starts_extension:
            self.state = MenuState.COLLECTING
            self._collect_only = False
            self._digits = ""
            return out + self._collect(digit, now)
        return out + self._key(digit, now)

    def handle_timers(self, now: float) -> list[MenuAction]:
        """Run whatever fell due at `now`."""
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        if self.state is MenuState.WAITING:
            log.debug("menu %r node %r: no input, default", self.menu.id, self.node.id)
            return self._transfer(self.node.default)
        if self.state is MenuState.COLLECTING:
            return self._finish_collecting(now)
        return []

    # --- internals ---

    def _enter(self, node: MenuNode, prefix: Iterable[str] = ()) -> list[MenuAction]:
        self.state = MenuState.PROMPTING
        self._deadline = None
        self._digits = ""
        self._collect_only = False
        self._playing = True
        return [PlayPrompt((*prefix, *node.greeting_for(self.mode)))]

    def _stop(self) -> list[MenuAction]:
        if self._playing:
            self._playing = False
            return [StopPrompt()]
        return []

    def _transfer(self, destination: Destination) -> list[MenuAction]:
        self.state = MenuState.DONE
        self._deadline = None
        self.result = destination
        log.debug("menu %r: transfer to %s %r", self.menu.id, destination.kind, destination.target)
        return [Transfer(destination)]

    def _invalid_input(self) -> list[MenuAction]:
        self._invalid += 1
        if self._invalid > self.node.max_invalid:
            return self._transfer(self.node.default)
        return self._enter(self.node, prefix=(PROMPT_INVALID,))

    def _key(self, digit: str, now: float) -> list[MenuAction]:
        binding = self.node.binding(digit)
        if binding is None:
            return self._invalid_input()
        action = binding.action
        if action is KeyAction.SUBMENU:
            self._path.append(self.menu.node(binding.target))
            self._invalid = 0
            return self._enter(self.node)
        if action is KeyAction.REPEAT:
            return self._enter(self.node)
        if action is KeyAction.BACK:
            if len(self._path) > 1:
                self._path.pop()
                self._invalid = 0
            return self._enter(self.node)
        if action is KeyAction.DIAL_EXTENSION:
            self.state = MenuState.COLLECTING
            self._collect_only = True
            self._digits = ""
            self._playing = True
            self._deadline = now + self.node.timeout_s
            return [PlayPrompt((PROMPT_ENTER_EXTENSION,))]
        if action is KeyAction.FAX and not binding.target:
            if self.menu.fax is None:  # Menu.__post_init__ refuses this; stay safe anyway
                return self._invalid_input()
            return self._transfer(self.menu.fax)
        return self._transfer(Destination(_TRANSFERRING[action], binding.target))

    def _prefix_of_extension(self, digits: str) -> bool:
        return any(ext.startswith(digits) for ext in self.menu.extensions)

    def _collect(self, digit: str, now: float) -> list[MenuAction]:
        if digit == "#":
            return self._finish_collecting(now)
        self._digits += digit
        longer = any(
            ext.startswith(self._digits) and ext != self._digits for ext in self.menu.extensions
        )
        if self._digits in self.menu.extensions and not longer:
            return self._transfer(Destination(DestinationKind.EXTENSION, self._digits))
        if not longer:
            return self._finish_collecting(now)
        self._deadline = now + self.menu.digit_timeout_s
        return []

    def _finish_collecting(self, now: float) -> list[MenuAction]:
        digits, self._digits = self._digits, ""
        if digits in self.menu.extensions:
            return self._transfer(Destination(DestinationKind.EXTENSION, digits))
        collect_only = self._collect_only
        self.state = MenuState.WAITING
        self._collect_only = False
        if len(digits) == 1 and not collect_only and self.node.binding(digits) is not None:
            return self._key(digits, now)
        if not digits and collect_only:
            return self._transfer(self.node.default)  # asked to dial, dialled nothing
        return self._invalid_input()
