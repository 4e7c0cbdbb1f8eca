"""Voice prompt catalog: the text of every prompt in English and Russian, and the grammar that
strings prompts into sentences ("you are caller number" + "three"; "у вас" + "два" + "новых
сообщения").

Prompts are short recordings named by id (`vm.enter_pin`, `queue.position`, `number.7`). Numbers
are spoken by concatenating word prompts, 0–999:

* English: cardinals only ("caller number twenty one"); plural "message"/"messages" by CLDR
  rules (one / other).
* Russian: cardinals agree in gender with the counted noun (один/одна/одно, два/две — "одно
  новое сообщение", "две минуты"), ordinals are masculine nominative to agree with "номер"
  ("Ваш номер в очереди: двадцать первый" — only the last word of a compound ordinal is
  ordinal), and the noun takes the CLDR plural category: one (1, 21, 101 but not 11), few (2–4,
  22–24 but not 12–14), many (0, 5–20, 25–30, 111 …) → "сообщение / сообщения / сообщений".

Every id a phrase builder can emit exists in that language's catalog (checked by the tests for
0–999), so a sentence never has a hole. Texts are written out in words, not digits, so the
synthesiser cannot pick the wrong case.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum


class Language(StrEnum):
    """Prompt languages (ISO 639-1)."""

    EN = "en"
    RU = "ru"


class Gender(Enum):
    """Grammatical gender of a counted noun (Russian cardinals 1 and 2 agree with it)."""

    MASCULINE = "masculine"
    FEMININE = "feminine"
    NEUTER = "neuter"


class PluralCategory(StrEnum):
    """CLDR plural categories used by the two languages."""

    ONE = "one"
    FEW = "few"
    MANY = "many"
    OTHER = "other"


MAX_NUMBER = 999
"""Largest number the word prompts can say."""
MAX_ORDINAL = 99
"""Largest ordinal (queue position); beyond it `queue_position` says "many callers ahead"."""

_EN_NUMBERS = {
    0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
    8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen",
    14: "fourteen", 15: "fifteen", 16: "sixteen", 17: "seventeen", 18: "eighteen",
    19: "nineteen", 20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty",
    70: "seventy", 80: "eighty", 90: "ninety", 100: "one hundred", 200: "two hundred",
    300: "three hundred", 400: "four hundred", 500: "five hundred", 600: "six hundred",
    700: "seven hundred", 800: "eight hundred", 900: "nine hundred",
}  # fmt: skip

_RU_NUMBERS = {
    0: "ноль", 1: "один", 2: "два", 3: "три", 4: "четыре", 5: "пять", 6: "шесть", 7: "семь",
    8: "восемь", 9: "девять", 10: "десять", 11: "одиннадцать", 12: "двенадцать",
    13: "тринадцать", 14: "четырнадцать", 15: "пятнадцать", 16: "шестнадцать",
    17: "семнадцать", 18: "восемнадцать", 19: "девятнадцать", 20: "двадцать", 30: "тридцать",
    40: "сорок", 50: "пятьдесят", 60: "шестьдесят", 70: "семьдесят", 80: "восемьдесят",
    90: "девяносто", 100: "сто", 200: "двести", 300: "триста", 400: "четыреста",
    500: "пятьсот", 600: "шестьсот", 700: "семьсот", 800: "восемьсот", 900: "девятьсот",
}  # fmt: skip

_RU_ORDINALS = {  # masculine nominative: agrees with "номер"
    1: "первый", 2: "второй", 3: "третий", 4: "четвёртый", 5: "пятый", 6: "шестой",
    7: "седьмой", 8: "восьмой", 9: "девятый", 10: "десятый", 11: "одиннадцатый",
    12: "двенадцатый", 13: "тринадцатый", 14: "четырнадцатый", 15: "пятнадцатый",
    16: "шестнадцатый", 17: "семнадцатый", 18: "восемнадцатый", 19: "девятнадцатый",
    20: "двадцатый", 30: "тридцатый", 40: "сороковой", 50: "пятидесятый", 60: "шестидесятый",
    70: "семидесятый", 80: "восьмидесятый", 90: "девяностый",
}  # fmt: skip

_EN_PHRASES = {
    "please_hold": "Please hold.",
    "goodbye": "Goodbye.",
    "invalid_option": "That is not a valid option.",
    "number_unavailable": "The number you have dialled is not available. Please try again later.",
    "number_invalid": (
        "The number you have dialled does not exist. Please check the number and dial again."
    ),
    "number_busy": "The number you have dialled is busy. Please try again later.",
    "all_lines_busy": "All lines are busy. Please try again later.",
    "call_recorded": "This call may be recorded.",
    "enter_extension": "Please dial the extension number.",
    "transfer.please_wait": "Please wait while your call is transferred.",
    "key.star": "star",
    "key.hash": "hash",
    "queue.welcome": (
        "Thank you for calling. All our operators are busy. Please stay on the line."
    ),
    "queue.position": "You are caller number",
    "queue.position_many": "There are many callers ahead of you.",
    "queue.thank_you_for_waiting": "Thank you for waiting. Your call is important to us.",
    "vm.enter_mailbox": "Please enter your mailbox number, followed by the hash key.",
    "vm.enter_pin": "Please enter your PIN, followed by the hash key.",
    "vm.pin_invalid": "Incorrect PIN. Please try again.",
    "vm.you_have": "You have",
    "vm.new_messages.one": "new message.",
    "vm.new_messages.other": "new messages.",
    "vm.saved_messages.one": "saved message.",
    "vm.saved_messages.other": "saved messages.",
    "vm.no_messages": "You have no new messages.",
    "vm.main_menu": (
        "To listen to your messages, press one. To record your greeting, press three. "
        "To change your PIN, press four. To exit, press the star key."
    ),
    "vm.message_menu": (
        "To play the message again, press one. To delete it, press seven. To save it, "
        "press nine. For the next message, press the hash key."
    ),
    "vm.message_deleted": "Message deleted.",
    "vm.message_saved": "Message saved.",
    "vm.no_more_messages": "No more messages.",
    "vm.record_greeting": "Record your greeting after the tone, then press the hash key.",
    "vm.greeting_saved": "Your greeting has been saved.",
    "vm.leave_message": (
        "Please leave a message after the tone. When you have finished, hang up or press the "
        "hash key."
    ),
    "vm.greeting.default": "The person you are calling is not available.",
    "vm.greeting.extension": "The person at extension",
    "vm.greeting.not_available": "is not available.",
    "vm.mailbox_full": "The mailbox is full. Please try again later.",
    "prog.enter_pin": (
        "Installer programming. Please enter the installer PIN, followed by the hash key."
    ),
    "prog.pin_wrong": "Incorrect PIN.",
    "prog.locked": "Installer programming is locked on this phone. Please try again later.",
    "prog.not_allowed": "Installer programming is not available on this phone.",
    "prog.main_menu": (
        "Installer menu. For the operating mode, press one. For call forwarding, press two. "
        "To record a greeting, press three. To test a door relay, press four. To hear the "
        "address of the system, press five. To repeat this menu, press the star key. To "
        "finish, press the hash key."
    ),
    "prog.mode_menu": (
        "For day mode, press one. For night mode, press two. For lunch mode, press three. For "
        "holiday mode, press four. To follow the schedule again, press zero. To go back, press "
        "the star key."
    ),
    "prog.enter_extension": "Enter the extension number, followed by the hash key.",
    "prog.forward_menu": (
        "To forward all calls, press one. To forward calls when busy, press two. To forward "
        "calls that are not answered, press three. To cancel forwarding, press zero. To go "
        "back, press the star key."
    ),
    "prog.enter_target": "Enter the number to forward to, followed by the hash key.",
    "prog.greeting_menu": (
        "To record the day greeting, press one. The night greeting, press two. The lunch "
        "greeting, press three. The holiday greeting, press four. To go back, press the star "
        "key."
    ),
    "prog.record_after_tone": (
        "Record the greeting after the tone. When you have finished, press the hash key."
    ),
    "prog.greeting_review": (
        "To keep this greeting, press one. To record it again, press two. To listen to it, "
        "press three. To go back without keeping it, press the star key."
    ),
    "prog.nothing_recorded": "Nothing was recorded.",
    "prog.enter_door": "Enter the door number.",
    "prog.address_is": "The address of the system is",
    "prog.no_address": "The system has no network address.",
    "prog.dot": "dot",
    "prog.done": "Done.",
    "prog.refused": "The change was not accepted.",
    "aa.greeting.day": (
        "Thank you for calling. Please dial the extension number, or stay on the line for the "
        "operator."
    ),
    "aa.greeting.night": (
        "Thank you for calling. The office is closed. Please call again during office hours."
    ),
    "aa.greeting.lunch": (
        "Thank you for calling. The office is at lunch. Please call again in an hour."
    ),
    "aa.greeting.holiday": (
        "Thank you for calling. The office is closed for the holiday. Please call again later."
    ),
}

_RU_PHRASES = {
    "please_hold": "Пожалуйста, оставайтесь на линии.",
    "goodbye": "До свидания.",
    "invalid_option": "Неверный выбор.",
    "number_unavailable": "Набранный вами номер недоступен. Пожалуйста, перезвоните позже.",
    "number_invalid": (
        "Номер набран неправильно. Пожалуйста, проверьте номер и наберите его снова."
    ),
    "number_busy": "Абонент занят. Пожалуйста, перезвоните позже.",
    "all_lines_busy": "Все линии заняты. Пожалуйста, перезвоните позже.",
    "call_recorded": "Разговор может быть записан.",
    "enter_extension": "Наберите, пожалуйста, внутренний номер.",
    "transfer.please_wait": "Пожалуйста, подождите, вас соединяют.",
    "key.star": "звёздочка",
    "key.hash": "решётка",
    "queue.welcome": ("Спасибо за звонок. Все операторы заняты. Пожалуйста, оставайтесь на линии."),
    "queue.position": "Ваш номер в очереди:",
    "queue.position_many": "Перед вами в очереди много абонентов.",
    "queue.thank_you_for_waiting": "Спасибо за ожидание. Ваш звонок очень важен для нас.",
    "vm.enter_mailbox": "Введите номер почтового ящика и нажмите решётку.",
    "vm.enter_pin": "Введите пин-код и нажмите решётку.",
    "vm.pin_invalid": "Неверный пин-код. Попробуйте ещё раз.",
    "vm.you_have": "У вас",
    "vm.new_messages.one": "новое сообщение.",
    "vm.new_messages.few": "новых сообщения.",
    "vm.new_messages.many": "новых сообщений.",
    "vm.saved_messages.one": "сохранённое сообщение.",
    "vm.saved_messages.few": "сохранённых сообщения.",
    "vm.saved_messages.many": "сохранённых сообщений.",
    "vm.no_messages": "У вас нет новых сообщений.",
    "vm.main_menu": (
        "Чтобы прослушать сообщения, нажмите один. Чтобы записать приветствие, нажмите три. "
        "Чтобы сменить пин-код, нажмите четыре. Для выхода нажмите звёздочку."
    ),
    "vm.message_menu": (
        "Чтобы прослушать сообщение ещё раз, нажмите один. Чтобы удалить его, нажмите семь. "
        "Чтобы сохранить его, нажмите девять. Для перехода к следующему сообщению нажмите "
        "решётку."
    ),
    "vm.message_deleted": "Сообщение удалено.",
    "vm.message_saved": "Сообщение сохранено.",
    "vm.no_more_messages": "Больше сообщений нет.",
    "vm.record_greeting": "Запишите приветствие после сигнала, затем нажмите решётку.",
    "vm.greeting_saved": "Приветствие сохранено.",
    "vm.leave_message": (
        "Оставьте сообщение после сигнала. Когда закончите, положите трубку или нажмите решётку."
    ),
    "vm.greeting.default": "Абонент не может ответить.",
    "vm.greeting.extension": "Абонент с внутренним номером",
    "vm.greeting.not_available": "не может ответить.",
    "vm.mailbox_full": "Почтовый ящик переполнен. Пожалуйста, перезвоните позже.",
    "prog.enter_pin": "Программирование системы. Введите пин-код инсталлятора и нажмите решётку.",
    "prog.pin_wrong": "Неверный пин-код.",
    "prog.locked": (
        "Программирование с этого телефона заблокировано. Пожалуйста, попробуйте позже."
    ),
    "prog.not_allowed": "Программирование с этого телефона недоступно.",
    "prog.main_menu": (
        "Меню инсталлятора. Режим работы — нажмите один. Переадресация — нажмите два. "
        "Запись приветствия — нажмите три. Проверка замка двери — нажмите четыре. Адрес "
        "системы — нажмите пять. Чтобы повторить меню, нажмите звёздочку. Для выхода нажмите "
        "решётку."
    ),
    "prog.mode_menu": (
        "Дневной режим — нажмите один. Ночной режим — нажмите два. Обеденный перерыв — нажмите "
        "три. Праздничный режим — нажмите четыре. Вернуться к расписанию — нажмите ноль. Назад — "
        "нажмите звёздочку."
    ),
    "prog.enter_extension": "Введите внутренний номер и нажмите решётку.",
    "prog.forward_menu": (
        "Переадресовать все вызовы — нажмите один. Переадресация при занятости — нажмите два. "
        "Переадресация при неответе — нажмите три. Отменить переадресацию — нажмите ноль. "
        "Назад — нажмите звёздочку."
    ),
    "prog.enter_target": "Введите номер переадресации и нажмите решётку.",
    "prog.greeting_menu": (
        "Дневное приветствие — нажмите один. Ночное приветствие — нажмите два. Приветствие на "
        "время обеда — нажмите три. Праздничное приветствие — нажмите четыре. Назад — нажмите "
        "звёздочку."
    ),
    "prog.record_after_tone": "Запишите приветствие после сигнала, затем нажмите решётку.",
    "prog.greeting_review": (
        "Сохранить приветствие — нажмите один. Записать заново — нажмите два. Прослушать — "
        "нажмите три. Вернуться без сохранения — нажмите звёздочку."
    ),
    "prog.nothing_recorded": "Ничего не записано.",
    "prog.enter_door": "Введите номер двери.",
    "prog.address_is": "Адрес системы:",
    "prog.no_address": "У системы нет сетевого адреса.",
    "prog.dot": "точка",
    "prog.done": "Выполнено.",
    "prog.refused": "Изменение не принято.",
    "aa.greeting.day": (
        "Спасибо за звонок. Наберите внутренний номер или оставайтесь на линии, вам ответит "
        "оператор."
    ),
    "aa.greeting.night": (
        "Спасибо за звонок. Офис закрыт. Пожалуйста, позвоните в рабочее время."
    ),
    "aa.greeting.lunch": (
        "Спасибо за звонок. В офисе обеденный перерыв. Пожалуйста, перезвоните через час."
    ),
    "aa.greeting.holiday": (
        "Спасибо за звонок. Офис закрыт в связи с праздником. Пожалуйста, перезвоните позже."
    ),
}


def _catalog(
    numbers: Mapping[int, str], phrases: Mapping[str, str], extra: Mapping[str, str]
) -> dict[str, str]:
    texts = {f"number.{n}": word for n, word in numbers.items()}
    texts.update(extra)
    texts.update(phrases)
    return texts


CATALOG: Mapping[Language, Mapping[str, str]] = {
    Language.EN: _catalog(_EN_NUMBERS, _EN_PHRASES, {}),
    Language.RU: _catalog(
        _RU_NUMBERS,
        _RU_PHRASES,
        {
            "number.1.feminine": "одна",
            "number.1.neuter": "одно",
            "number.2.feminine": "две",
            **{f"ordinal.{n}": word for n, word in _RU_ORDINALS.items()},
        },
    ),
}
"""Text of every prompt, by language and id."""


def text(language: Language, prompt_id: str) -> str:
    """The text of `prompt_id`; raises KeyError when the language has no such prompt."""
    return CATALOG[language][prompt_id]


def render(language: Language, prompt_ids: list[str]) -> str:
    """The sentence a sequence of prompts says (for logs, tests and the web page)."""
    return " ".join(text(language, p) for p in prompt_ids)


# --- grammar --------------------------------------------------------------------------------


def plural_category(n: int, language: Language) -> PluralCategory:
    """CLDR plural category of the integer `n` (≥ 0) for `language`."""
    if language is Language.EN:
        return PluralCategory.ONE if n == 1 else PluralCategory.OTHER
    last, last_two = n % 10, n % 100
    if last == 1 and last_two != 11:
        return PluralCategory.ONE
    if 2 <= last <= 4 and not 12 <= last_two <= 14:
        return PluralCategory.FEW
    return PluralCategory.MANY


def cardinal(n: int, language: Language, gender: Gender = Gender.MASCULINE) -> list[str]:
    """Prompt ids that say `n` (0–999); in Russian, 1 and 2 at the end agree with `gender`.

    Raises ValueError outside 0–999.
    """
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"cannot say {n}: numbers go from 0 to {MAX_NUMBER}")
    if n == 0:
        return ["number.0"]
    ids: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        ids.append(f"number.{hundreds * 100}")
    if rest >= 20:
        ids.append(f"number.{rest // 10 * 10}")
        rest %= 10
    if rest:
        ids.append(_unit(rest, language, gender))
    return ids


def _unit(n: int, language: Language, gender: Gender) -> str:
    if language is Language.RU:
        if n == 1 and gender is not Gender.MASCULINE:
            return f"number.1.{gender.value}"
        if n == 2 and gender is Gender.FEMININE:
            return "number.2.feminine"
    return f"number.{n}"


def ordinal(n: int, language: Language) -> list[str]:
    """Russian masculine nominative ordinal of `n` (1–99): [tens cardinal] + unit ordinal.

    English has no ordinal prompts (its sentences use cardinals); raises ValueError for it and
    outside 1–99.
    """
    if language is not Language.RU:
        raise ValueError(f"no ordinal prompts in {language.value}")
    if not 1 <= n <= MAX_ORDINAL:
        raise ValueError(f"cannot say ordinal {n}: ordinals go from 1 to {MAX_ORDINAL}")
    if n < 20 or n % 10 == 0:
        return [f"ordinal.{n}"]
    return [f"number.{n // 10 * 10}", f"ordinal.{n % 10}"]


def digits(number: str, language: Language) -> list[str]:
    """One prompt per character of a dialled string: 0–9, `*` and `#`; others are skipped."""
    keys = {"*": "key.star", "#": "key.hash"}
    return [f"number.{c}" if c.isdigit() else keys[c] for c in number if c.isdigit() or c in keys]


def queue_position(n: int, language: Language) -> list[str]:
    """ "You are caller number three" / "Ваш номер в очереди: третий"; n > 99: "many ahead"."""
    if n > MAX_ORDINAL:
        return ["queue.position_many"]
    if n < 1:
        raise ValueError(f"queue position starts at 1, not {n}")
    if language is Language.RU:
        return ["queue.position", *ordinal(n, language)]
    return ["queue.position", *cardinal(n, language)]


def message_count(n: int, language: Language, saved: bool = False) -> list[str]:
    """ "You have three new messages" / "У вас три новых сообщения"; 0: "no new messages".

    Counts above 999 are said as 999 (a mailbox never holds that many).
    """
    if n <= 0 and not saved:
        return ["vm.no_messages"]
    n = min(max(n, 0), MAX_NUMBER)
    noun = "vm.saved_messages" if saved else "vm.new_messages"
    # "сообщение" is neuter: одно новое сообщение, два новых сообщения.
    return ["vm.you_have", *cardinal(n, language, Gender.NEUTER),
            f"{noun}.{plural_category(n, language).value}"]  # fmt: skip


def extension_greeting(extension: str, language: Language) -> list[str]:
    """Default voicemail greeting naming the extension, then the leave-a-message prompt."""
    return [
        "vm.greeting.extension",
        *digits(extension, language),
        "vm.greeting.not_available",
        "vm.leave_message",
    ]


def default_greeting(language: Language) -> list[str]:
    """Default voicemail greeting when the extension should not be named."""
    return ["vm.greeting.default", "vm.leave_message"]
