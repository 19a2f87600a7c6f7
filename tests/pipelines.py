"""The pipelines' own code, run offline, for tests/test_pipelines.py.

- transformers: `apply_chat_template` on a tokenizer built here (a tiny word-level `tokenizers`
  model, nothing downloaded), with two tool-calling templates written to match the published
  conventions: Qwen2.5-Instruct's (calls as `<tool_call>{"name", "arguments": <object>}`, parallel
  calls allowed, results grouped in one user turn as `<tool_response>`) and Llama-3.1-Instruct's
  (JSON tool calling with `{"name", "parameters": <object>}`, one call per assistant turn: it
  raises "This model only supports single tool-calls at once!", results in `ipython` turns).
- openai / anthropic: the SDKs' own request types (TypedDicts) validated by pydantic.
- LLaMA-Factory: its package cannot be imported without torch (llamafactory 0.9.5:
  data/__init__.py imports the collators, which import torch; extras/logging.py imports
  extras/constants.py, which imports peft and transformers' torch parts), so its rules are written
  down here from the files read: src/llamafactory/data/converter.py (SharegptDatasetConverter),
  data/parser.py (DatasetAttr, get_dataset_list), data/formatter.py (FunctionFormatter,
  ToolFormatter), data/tool_utils.py (QwenToolUtils, Llama3ToolUtils) and the processor's rule
  that a supervised example has an odd-length prompt and one response. With
  LLMOS_LLAMAFACTORY_SRC pointing at an unpacked llamafactory package folder (pip download
  --no-deps llamafactory; unzip), the tests also run those very files, their torch-bound
  neighbours stubbed (`real_llamafactory`).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

QWEN25_TEMPLATE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

LLAMA31_TEMPLATE = """\
{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- if tools_in_user_message and not tools is none %}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
    {%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""


def tokenizer(template: str) -> Any:
    """A transformers tokenizer built offline (a word-level model of a few tokens), with template."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<|begin_of_text|>": 1, "<|eot_id|>": 2, "<|im_end|>": 3}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="[UNK]")),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        unk_token="[UNK]",
    )
    tok.chat_template = template
    return tok


def render(tok: Any, row: dict[str, Any]) -> str:
    return str(tok.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False))


# ====================================================================== LLaMA-Factory's rules, written down

LF_TAGS = {"human": "user", "gpt": "assistant", "observation": "observation", "function_call": "function"}
LF_ODD, LF_EVEN = ("human", "observation"), ("gpt", "function_call")
TOOL_CALL_WORDS = ("<tool_call>", "</tool_call>")  # register_template's default (template.py)
THOUGHT_WORDS = ("<think>\n", "\n</think>\n\n")


def lf_align(example: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]], str, str] | None:
    """SharegptDatasetConverter.__call__ with the dataset_info.json entry's tags; None where it
    logs "Invalid role tag" or "Invalid message count" and drops the example."""
    messages = example["conversations"]
    system = example.get("system") or ""
    if messages and messages[0]["from"] == "system":
        system, messages = messages[0]["value"], messages[1:]
    aligned = []
    for turn_idx, message in enumerate(messages):
        if message["from"] not in (LF_ODD, LF_EVEN)[turn_idx % 2]:
            return None
        aligned.append({"role": LF_TAGS[message["from"]], "content": message["value"]})
    if len(aligned) % 2 != 0:
        return None
    prompt, response = aligned[:-1], aligned[-1:]
    if len(prompt) % 2 != 1 or len(response) != 1:  # the supervised processor's "Dropped invalid example"
        return None
    return prompt, response, system, example.get("tools") or ""


def lf_function_calls(content: str) -> tuple[str, list[tuple[str, str]]]:
    """FunctionFormatter.apply's parsing: (the text kept before the calls, [(name, arguments JSON)]).
    A value that does not parse raises, as LLaMA-Factory does (RuntimeError)."""
    m = re.search(rf"{re.escape(TOOL_CALL_WORDS[0])}(.*?){re.escape(TOOL_CALL_WORDS[1])}", content, re.DOTALL)
    if m is None:
        t = re.search(rf"{re.escape(THOUGHT_WORDS[0])}(.*?){re.escape(THOUGHT_WORDS[1])}", content, re.DOTALL)
        thought, json_part = (t.group(0), content.replace(t.group(0), "")) if t else ("", content)
    else:
        thought, json_part = content.replace(m.group(0), ""), m.group(1)
    try:
        calls = json.loads(json_part)
    except json.JSONDecodeError:
        raise RuntimeError(f"Invalid JSON format in function message: {[content]}") from None
    if not isinstance(calls, list):
        calls = [calls]
    return thought, [(c["name"], json.dumps(c["arguments"], ensure_ascii=False)) for c in calls]


def lf_qwen_function(calls: list[tuple[str, str]]) -> str:
    """QwenToolUtils.function_formatter."""
    texts = [json.dumps({"name": n, "arguments": json.loads(a)}, ensure_ascii=False) for n, a in calls]
    return "\n".join(f"<tool_call>\n{t}\n</tool_call>" for t in texts)


def lf_llama3_function(calls: list[tuple[str, str]]) -> str:
    """Llama3ToolUtils.function_formatter."""
    objs = [{"name": n, "parameters": json.loads(a)} for n, a in calls]
    return json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False)


def lf_tools(tools: str) -> list[dict[str, Any]]:
    """ToolFormatter.apply: the tools value is parsed as JSON (a flat string raises)."""
    try:
        parsed = json.loads(tools)
    except json.JSONDecodeError:
        raise RuntimeError(f"Invalid JSON format in tool description: {[tools]}") from None
    return [t if t.get("type") == "function" else {"type": "function", "function": t} for t in parsed]


# ====================================================================== LLaMA-Factory's own files


class _Logger:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning_rank0(self, msg: str) -> None:
        self.warnings.append(msg)

    warning_rank0_once = warning_rank0
    info_rank0 = warning = info = debug = warning_rank0


def real_llamafactory(monkeypatch: Any) -> types.SimpleNamespace | None:
    """LLaMA-Factory's converter, parser and formatters from LLMOS_LLAMAFACTORY_SRC, loaded
    without torch: the package __init__ files, extras.logging/constants/misc and (when absent)
    datasets/fsspec are stubbed; the files under test run as shipped. None without the variable."""
    src = os.environ.get("LLMOS_LLAMAFACTORY_SRC")
    if not src:
        return None
    root = Path(src)
    logger = _Logger()

    def module(name: str, path: Path | None = None, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        if path is not None:
            m.__path__ = [str(path)]
        m.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, m)
        return m

    for name in [n for n in list(sys.modules) if n.startswith("llamafactory")]:
        monkeypatch.delitem(sys.modules, name)
    module("llamafactory", root)
    module("llamafactory.data", root / "data")
    module("llamafactory.extras", root / "extras")
    module("llamafactory.extras.logging", get_logger=lambda name=None: logger)
    module("llamafactory.extras.constants", DATA_CONFIG="dataset_info.json")
    module("llamafactory.extras.misc", use_modelscope=lambda: False, use_openmind=lambda: False)
    try:
        import datasets  # noqa: F401
    except ImportError:
        module("datasets", DatasetDict=dict, concatenate_datasets=None, interleave_datasets=None)
    try:
        import fsspec  # noqa: F401
    except ImportError:
        module("fsspec")
    return types.SimpleNamespace(
        converter=importlib.import_module("llamafactory.data.converter"),
        parser=importlib.import_module("llamafactory.data.parser"),
        formatter=importlib.import_module("llamafactory.data.formatter"),
        logger=logger,
    )
