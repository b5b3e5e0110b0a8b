"""Memoized parsing and dispatch for moto's DynamoDB, with the same answers as moto's own code.

Profiled under the local stack's payment load (docs/capacity.md section 9), the moto server
spends most of a request not on DynamoDB's work but on work that repeats identically for
every request of a kind. Each patch below memoizes one pure function of its inputs or skips
a search whose outcome is known, and otherwise calls moto's own code:

- A ConditionExpression is parsed from scratch for every item of every transaction, twice
  (the handler validates it, the backend evaluates it). The parse is a pure function of the
  expression, its names and its values, and the Op tree it returns is never changed after
  (evaluating it reads the item), so the tree is kept per (expression, names, values); a
  payment's `attribute_not_exists(#0)` and its other value-free checks then parse once.
  Expressions with new values still pay for the rest of the parse, but not for lexing:
  the tokens are a pure function of the expression's text.
- An UpdateExpression's AST is a pure function of its text; moto's validator deep-copies
  the AST before it substitutes names and values, and nothing else changes it.
- Validating an UpdateExpression (a copy of its AST and ten processors, each a walk of the
  whole tree) was most of a posting's cost: the copy is made without deepcopy's generic
  dispatch; the three processors that only check the expression's structure against its
  names and the table's keys are skipped once they passed for those; a processor with
  nothing in the tree to process is skipped; and a new item's expression is validated once,
  not twice, when no path of it starts with a key attribute (section "validating").
- Every DynamoDB error renders an XML body that JSON then replaces, and moto's update
  raises one for each ADD to an attribute not there yet: the XML is kept per message.
- The response serializer looks up every member of the AttributeValue union (ten) under
  each of its aliases for every value of every item returned. For a dict whose keys are
  all member names (as moto's own items are) only those members can be found, so only
  they are looked up; any other value takes moto's path.
- Validating an UpdateExpression walks its AST once per validator (ten), asking of every
  node whether it is a Node and whether this validator processes its class, by
  `isinstance` against abstract base classes (a Python-level check each time). The
  answers depend only on the classes, so they are kept per class.
- An item is built attribute by attribute, and before each one moto sums the sizes of all
  the attributes already there (a quadratic cost for every item put); a running total
  makes the same check at the same points.
- SQS computes every attribute of a queue, three of them by walking all its messages
  (reading the clock for each), to read one: whether the queue deduplicates by content
  on every message sent, the retention period on every message received, the names asked
  for (three times each) on GetQueueAttributes. A queue of n messages made each of those
  cost n clock readings; now only the attributes read are computed, exactly as moto
  computes them (`queue_attribute`).
- Finding the backend for a request lists moto's package directory (a stat per service)
  and tries every service's URL patterns, for every request; a host's answer is fixed.
- Finding a handler's actions inspects its class for every request; classes do not change.

`install()` refuses any moto but the pinned one, and checks the source of every function
it wraps: a new moto needs this file read against its source again.
"""

from __future__ import annotations

import copy
import copyreg
import functools
import hashlib
import inspect
import json
import re
import string
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import moto
import moto.core.responses
import moto.core.utils
from moto.core.exceptions import _RESTError
from moto.core.mime_types import APP_XML
from moto.core.serialize import BaseJSONSerializer, ResponseSerializer
from moto.core.utils import camelcase_to_underscores, unix_time
from moto.dynamodb.comparisons import (
    ConditionExpressionParser,
    create_condition_expression_parser,
    get_expected,
)
from moto.dynamodb.exceptions import ConditionalCheckFailed, ItemSizeTooLarge, ItemSizeToUpdateTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
    DDBTypedValue,
    DepthFirstTraverser,
    ExpressionAttribute,
    ExpressionAttributeName,
    Node,
    NoneExistingPath,
    UpdateExpressionPath,
)
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import (
    ActionCountValidator,
    OverlappingPathsValidator,
    UpdateExpressionValidator,
    UpdateHashRangeKeyValidator,
    Validator,
)
from moto.moto_api._internal import mock_random as random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.exceptions import InvalidAttributeName, InvalidParameterValue
from moto.sqs.models import MAXIMUM_MESSAGE_DELAY, Message, Queue, SQSBackend

MOTO_VERSION = "5.2.5"
CACHE_SIZE = 4096  # distinct expressions (with their names and values) kept

# What each patch was written against (the functions wrapped, and the one whose body the
# serializer's fast path repeats): sha256 of inspect.getsource() in moto 5.2.5.
ORIGINALS: dict[str, tuple[Callable[..., Any], str]] = {
    "ConditionExpressionParser.parse": (
        ConditionExpressionParser.parse,
        "5c9b63c5f49ed5d5d644eb0ac7422fb3c2ac4bbd310374f4161686bc4e10c453",
    ),
    "ConditionExpressionParser._lex_condition_expression": (
        ConditionExpressionParser._lex_condition_expression,
        "a815288359216b2e4dfec54d1a3d032d52d9faa3e7a17a6ff127841e457301fa",
    ),
    "ConditionExpressionParser._lex_one_node": (
        ConditionExpressionParser._lex_one_node,
        "58485dd15b2f6df58f0d3b939c22743b0eb39b98b5205a190696fa9f36024f4b",
    ),
    "UpdateExpressionParser.make": (
        UpdateExpressionParser.make,
        "2c00ed96d6e191f243b449166e75bfb38f307b2e19405bc0981847061e0dbee3",
    ),
    "Validator.__init__": (
        Validator.__init__,
        "9489b532dd0fb359e273711c1a67971f1b73af47ddbaa91868e9cc42a26ddbb3",
    ),
    "Validator.validate": (
        Validator.validate,
        "5a99f0d36c7b7b8ebfa3e745203515f57a9b99109cfca55a039153a8f6b081c6",
    ),
    "UpdateExpressionValidator.get_ast_processors": (
        UpdateExpressionValidator.get_ast_processors,
        "918400bbecd67e8321619b3141e6a276e91a5112c8e8b602fbbc748d83329af6",
    ),
    "DepthFirstTraverser.traverse": (
        DepthFirstTraverser.traverse,
        "c78f8583f1961be7000602ba3b9fcb6c8f4a03eb61c09de2fc0defa40157c72d",
    ),
    "DepthFirstTraverser.pre_processing_of_child": (
        DepthFirstTraverser.pre_processing_of_child,
        "7081127933bb856d0577b7b36e4bb5107e74c898d3b52ae99e2d071984250211",
    ),
    "DynamoDBBackend.update_item": (
        DynamoDBBackend.update_item,
        "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f",
    ),
    "_RESTError.__init__": (
        _RESTError.__init__,
        "ee3198e8672e579c5703a848995926643a3fca2da451519652063e5e2a6d30d9",
    ),
    # Whole classes: the validators whose outcome is kept per expression (STRUCTURAL).
    "ActionCountValidator": (
        ActionCountValidator,
        "3fe995f04a9c4a2d1edcdef932cbdcb8781c9229148d2475c63d8ede6e17f528",
    ),
    "OverlappingPathsValidator": (
        OverlappingPathsValidator,
        "27f48a77a1762303e8de34cb7b9b58020e972805e470c03dfd500fb5b4b8f20f",
    ),
    "UpdateHashRangeKeyValidator": (
        UpdateHashRangeKeyValidator,
        "18ca06e4b0d82e64d0999d03d079dd08e71e7832914f2f0d374e18d26ff1518d",
    ),
    "BaseJSONSerializer._serialize_type_structure": (
        BaseJSONSerializer._serialize_type_structure,
        "36873909cd0aeb4defa91cc9912c6e90a62d7d92ced6150ac7de92fd10a81967",
    ),
    "ResponseSerializer._serialize_type_structure": (
        ResponseSerializer._serialize_type_structure,
        "f9b47068f40ce489e55e7a0bf78accec38597d27168dc3d095ac2fc18312d4a8",
    ),
    "DepthFirstTraverser.traverse_node_recursively": (
        DepthFirstTraverser.traverse_node_recursively,
        "d7f01d9b45cf9f64ac84751ec4c8cab3114e7c179350eb1b81ffe5f0a114aa78",
    ),
    "DepthFirstTraverser.nodes_to_be_processed": (
        DepthFirstTraverser.nodes_to_be_processed,
        "1c2c84c8097e35172d289d2cc30029d2d1c518f7680232a3f3c9f09e56a5e9b0",
    ),
    "Item.__init__": (Item.__init__, "d9c12b62cb921831aab9b2eb22ac24fbd600689064a0219ae3ffbe057ae4be74"),
    "LimitedSizeDict.__setitem__": (
        LimitedSizeDict.__setitem__,
        "d979580fdbe14f79f3216564e1385c4b3485db82bc88193326c467a037331e81",
    ),
    "Queue.attributes": (
        Queue.attributes.fget,  # type: ignore[attr-defined]
        "40cb990b121628d535cecbcd0e0d333984024633b70a097489ae8611e1a59338",
    ),
    "SQSBackend.send_message": (
        SQSBackend.send_message,
        "bf161af09a9e6b860e3dd5d8f58ccc802623caa86883fab9b2ffb333f8f70330",
    ),
    "SQSBackend.get_queue_attributes": (
        SQSBackend.get_queue_attributes,
        "58417223da457b5a0aac5ccc31b6646ed9b22c3b276a0f0d9fd5f3f13bd797ec",
    ),
    "SQSBackend.is_message_valid_based_on_retention_period": (
        SQSBackend.is_message_valid_based_on_retention_period,
        "cca23b94a5f3af9d9c5af1c09ee5e615017bdf6bd032301cb321c06c7e595d4b",
    ),
    "DomainDispatcherApplication.get_backend_for_host": (
        DomainDispatcherApplication.get_backend_for_host,
        "1f41972c1e4e660fbf4e4ddfeeed2fdff56dc105a8f8e1bf015640f710ef511a",
    ),
    "method_names_from_class": (
        moto.core.utils.method_names_from_class,
        "9dbac89d082b655fee902c450e69de9dbadf9699ad06411298494984b55138c3",
    ),
}


class MotoChanged(RuntimeError):
    """The installed moto is not the one these patches were written against."""


def _sha256(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


# --- ConditionExpression ------------------------------------------------------------------

_parse = ConditionExpressionParser.parse
_lex = ConditionExpressionParser._lex_condition_expression
Parsed = tuple[Any, tuple[str, ...], tuple[str, ...]]  # the Op, the names and the values it used


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parsed(expression: str, names: str, values: str) -> Parsed:
    parser = ConditionExpressionParser(expression, json.loads(names), json.loads(values))
    op = _parse(parser)
    return op, tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found)


def parse_condition(self: ConditionExpressionParser) -> Any:
    try:
        key = (
            self.condition_expression,
            json.dumps(self.expression_attribute_names, sort_keys=True),
            json.dumps(self.expression_attribute_values, sort_keys=True),
        )
    except (TypeError, ValueError):  # not JSON (bytes from a mock_aws caller): moto's way
        return _parse(self)
    if not isinstance(key[0], str):
        return _parse(self)
    op, names, values = _parsed(*key)
    self.expr_attr_names_found.extend(names)
    self.expr_attr_values_found.extend(values)
    return op


@functools.lru_cache(maxsize=CACHE_SIZE)
def _lexed(expression: str) -> tuple[Any, ...]:
    return tuple(_lex(ConditionExpressionParser(expression, None, None)))


def lex_condition(self: ConditionExpressionParser) -> deque[Any]:
    # The lexed nodes are namedtuples whose children lists stay empty: later passes build
    # new nodes, so the same tokens can start every parse of this expression.
    return deque(_lexed(self.condition_expression))


# --- UpdateExpression ---------------------------------------------------------------------

_make_update = UpdateExpressionParser.make.__func__


@functools.lru_cache(maxsize=CACHE_SIZE)
def _made(cls: Any, expression: str) -> Any:
    return _make_update(cls, expression)


def make_update(cls: Any, expression_str: str) -> Any:
    if not isinstance(expression_str, str):
        return _make_update(cls, expression_str)
    ast = _made(cls, expression_str)
    if ast not in _shapes:
        _shapes[ast] = Shape(expression_str, _classes_in(ast))
    return ast


# --- validating UpdateExpressions ---------------------------------------------------------
#
# moto's Validator deep-copies the AST (the processors replace its nodes in place), then
# runs ten processors over it, each a traversal of the whole tree:
# - The first three (STRUCTURAL) only raise or not: they read the tree's structure, the
#   expression's names and the table's key attributes, and return every node unchanged.
#   ActionCountValidator and OverlappingPathsValidator process every clause node (each an
#   UpdateExpression) by searching its whole subtree: quadratic in the expression's length.
#   Their verdict is a pure function of (expression, names, key attributes): once they pass
#   for those, they pass again, so they are skipped (a failure is never kept: it runs again).
# - A processor changes nothing when the tree holds no node of a class it processes, and
#   its pre_processing_of_child is the traverser's no-op: it is skipped. The classes a tree
#   can hold at any point are the parsed ones and the two processors create (DDBTypedValue,
#   NoneExistingPath): e.g. the function evaluator goes for an expression without functions.
# - The copy is the same as deepcopy's (same classes, same attributes, shared objects and
#   parent links kept), built without deepcopy's generic dispatch for these plain nodes.


class Shape:
    """What is known of a parsed UpdateExpression: its text, every node class it can come to
    hold, and which processor classes find none of theirs in it."""

    def __init__(self, text: str, classes: frozenset[type]) -> None:
        self.text = text
        self.classes = classes | CREATED
        self.idle: dict[type, bool] = {}


CREATED = frozenset({DDBTypedValue, NoneExistingPath})  # what processors put in a tree
STRUCTURAL = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
_shapes: weakref.WeakKeyDictionary[Any, Shape] = weakref.WeakKeyDictionary()
_passed: set[tuple[Any, ...]] = set()  # (expression, names, key attributes) STRUCTURAL passed
_validator_init = Validator.__init__
_validate = Validator.validate
_traverser_pre_processing = DepthFirstTraverser.pre_processing_of_child
_traverser_traverse = DepthFirstTraverser.traverse


def _classes_in(node: Any) -> frozenset[type]:
    found: set[type] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Node):
            found.add(type(n))
            stack.extend(n.children or ())
    return frozenset(found)


ATOMIC = frozenset({str, int, float, bool, type(None)})  # deepcopy returns these themselves
_plain: dict[type, bool] = {}


def _plain_node(kind: Any) -> bool:
    """A Node class whose instances deepcopy copies as cls.__new__ plus a deep copy of __dict__."""
    plain = _plain.get(kind)
    if plain is None:
        plain = _plain[kind] = (
            issubclass(kind, Node)
            and kind not in copyreg.dispatch_table
            and kind not in copy._deepcopy_dispatch  # type: ignore[attr-defined]
            and not hasattr(kind, "__deepcopy__")
            and kind.__reduce_ex__ is object.__reduce_ex__
            and kind.__reduce__ is object.__reduce__
            and kind.__getstate__ is object.__getstate__
            and not hasattr(kind, "__setstate__")
            and not hasattr(kind, "__slots__")
        )
    return plain


def copy_tree(x: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy(x) for trees of Nodes, lists, dicts and atoms; anything else by deepcopy."""
    if type(x) in ATOMIC:
        return x
    return _copy(x, {} if memo is None else memo)


def _copy(x: Any, memo: dict[int, Any]) -> Any:
    # deepcopy's steps for these kinds: the copy is in the memo before its contents are
    # copied (so shared objects and parent links come out shared and linked as before).
    found = memo.get(id(x))
    if found is not None:
        return found
    kind: Any = type(x)
    y: Any
    if kind is list:
        y = []
        memo[id(x)] = y
        for a in x:
            y.append(a if type(a) in ATOMIC else _copy(a, memo))
    elif kind is dict:
        y = _copy_dict(x, memo)
    elif _plain_node(kind):
        y = kind.__new__(kind)
        memo[id(x)] = y
        state = x.__dict__
        if state:
            y.__dict__.update(_copy_dict(state, memo))
    else:
        y = copy.deepcopy(x, memo)
    return y


def _copy_dict(x: dict[Any, Any], memo: dict[int, Any]) -> dict[Any, Any]:
    y: dict[Any, Any] = {}
    memo[id(x)] = y
    for key, value in x.items():
        y[key if type(key) in ATOMIC else _copy(key, memo)] = (
            value if type(value) in ATOMIC else _copy(value, memo)
        )
    return y


def _names_key(names: Any) -> Any:
    if names is None:
        return None
    if not isinstance(names, dict) or not all(type(k) is str and type(v) is str for k, v in names.items()):
        raise TypeError("not plain names")
    return tuple(sorted(names.items()))


def init_validator(
    self: Validator,
    expression: Any,
    expression_attribute_names: dict[str, str],
    expression_attribute_values: dict[str, dict[str, Any]],
    item: Item,
    table: Any,
) -> None:
    # moto 5.2.5's Validator.__init__, but for the marked lines.
    self.expression_attribute_names = expression_attribute_names
    self.expression_attribute_values = expression_attribute_values
    self.item = item
    self.table = table
    self.processors = self.get_ast_processors()
    self.node_to_validate = copy_tree(expression)  # COPY
    self._sscard_shape = _shapes.get(expression)  # type: ignore[attr-defined]  # SHAPE


def validate(self: Validator) -> Any:
    # moto 5.2.5's Validator.validate, skipping the processors that would change nothing.
    shape: Shape | None = getattr(self, "_sscard_shape", None)
    processors = self.processors
    if shape is None or not isinstance(self, UpdateExpressionValidator):
        return _validate(self)
    try:
        key = (
            shape.text,
            _names_key(self.expression_attribute_names),
            tuple(self.table.table_key_attrs),
        )
    except TypeError:
        key = None
    structural = tuple(type(p) for p in processors[: len(STRUCTURAL)]) == STRUCTURAL
    n = self.node_to_validate
    for i, processor in enumerate(processors):
        if structural and i < len(STRUCTURAL):
            if key in _passed:
                continue
        elif _changes_nothing(processor, shape):
            continue
        n = processor.traverse(n)
        if structural and i == len(STRUCTURAL) - 1 and key is not None:
            if len(_passed) >= CACHE_SIZE:
                _passed.clear()
            _passed.add(key)
    return n


def _changes_nothing(processor: Any, shape: Shape) -> bool:
    kind = type(processor)
    idle = shape.idle.get(kind)
    if idle is None:
        processed = processor.nodes_to_be_processed()  # its _processing_map's keys: per class
        idle = shape.idle[kind] = (
            kind.pre_processing_of_child is _traverser_pre_processing
            and kind.traverse is _traverser_traverse
            and not any(issubclass(c, processed) for c in shape.classes)
        )
    return idle


# --- updating a new item ------------------------------------------------------------------
#
# For an item not there yet, moto validates the UpdateExpression twice: against an empty
# item (so that a refused expression creates nothing), then, once it has put the key, against
# the item holding just the key attributes. Of the processors only the path resolver reads
# the item, and it looks up the first name of each path in the item's attributes; when no
# path starts with a key attribute the two items give the same answers, so the tree the
# first validation built (discarded by moto) is the one the second would build, and is used.

_update_item = DynamoDBBackend.update_item
_key_blind_memo: dict[tuple[Any, ...], bool] = {}


def key_blind(ast: Any, names: Any, table: Any) -> bool:
    """No path of the expression starts with one of the table's key attributes."""
    shape = _shapes.get(ast)
    if shape is None:
        return False
    try:
        memo_key = (shape.text, _names_key(names), table.hash_key_attr, table.range_key_attr)
    except TypeError:
        return False
    blind = _key_blind_memo.get(memo_key)
    if blind is None:
        if len(_key_blind_memo) >= CACHE_SIZE:
            _key_blind_memo.clear()
        keys = {table.hash_key_attr, table.range_key_attr}
        firsts = [_first_name(path, names) for path in _paths_in(ast)]
        blind = _key_blind_memo[memo_key] = all(n is not None and n not in keys for n in firsts)
    return blind


def _paths_in(node: Any) -> list[Any]:
    paths, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Node):
            if isinstance(n, UpdateExpressionPath):
                paths.append(n)
            stack.extend(n.children or ())
    return paths


def _first_name(path: Any, names: dict[str, str] | None) -> str | None:
    first = path.children[0] if path.children else None
    if isinstance(first, ExpressionAttributeName):
        name = (names or {}).get(first.get_attribute_name_placeholder())
        return name if isinstance(name, str) else None
    if isinstance(first, ExpressionAttribute):
        return str(first.get_attribute_name())
    return None  # a path that starts otherwise: not known to be blind


def update_item(
    self: DynamoDBBackend,
    table_name: str,
    key: dict[str, dict[str, Any]],
    update_expression: str,
    expression_attribute_names: dict[str, Any],
    expression_attribute_values: dict[str, Any],
    attribute_updates: dict[str, Any] | None = None,
    expected: dict[str, Any] | None = None,
    condition_expression: str | None = None,
    return_values_on_condition_check_failure: str | None = None,
) -> Item:
    # moto 5.2.5's DynamoDBBackend.update_item, line for line, but for the marked lines.
    table = self.get_table(table_name)

    # Support spaces between operators in an update expression
    # E.g. `a = b + c` -> `a=b+c`
    if update_expression:
        # Parse expression to get validation errors
        update_expression_ast = UpdateExpressionParser.make(update_expression)
        update_expression = re.sub(r"\s*([=\+-])\s*", "\\1", update_expression)

    if all([table.hash_key_attr in key, table.range_key_attr in key]):
        # Covers cases where table has hash and range keys, ``key`` param
        # will be a dict
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr])  # type: ignore[index]
    elif table.hash_key_attr in key:
        # Covers cases where table has a range key where ``key`` param is a dict
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = None
    else:
        # Covers other cases
        hash_value = DynamoType(key)
        range_value = None

    item = table.get_item(hash_value, range_value)
    orig_item = copy.deepcopy(item)

    if not expected:
        expected = {}

    if not get_expected(expected).expr(item):
        raise ConditionalCheckFailed
    condition_expression_parser = create_condition_expression_parser(
        condition_expression,
        expression_attribute_names,
        expression_attribute_values,
    )
    condition_op = condition_expression_parser.parse()
    if not condition_op.expr(item):
        if return_values_on_condition_check_failure == "ALL_OLD" and item is not None:
            raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
        else:
            raise ConditionalCheckFailed

    validated_new = None  # ONCE
    # Update does not fail on new items, so create one
    if item is None:
        if update_expression:
            # Validate AST before creating anything
            item = Item(hash_value, range_value, attrs={})
            validated_new = UpdateExpressionValidator(  # ONCE
                update_expression_ast,
                expression_attribute_names=expression_attribute_names,
                expression_attribute_values=expression_attribute_values,
                item=item,
                table=table,
            ).validate()
        data: dict[str, Any] = {table.hash_key_attr: {hash_value.type: hash_value.value}}
        if range_value:
            data.update(
                {table.range_key_attr: {range_value.type: range_value.value}}  # type: ignore[dict-item]
            )

        table.put_item(data)
        item = table.get_item(hash_value, range_value)

    if attribute_updates:
        item.validate_no_empty_key_values(attribute_updates, table.attribute_keys)  # type: ignore[union-attr]

    if update_expression:
        if validated_new is not None and key_blind(  # ONCE
            update_expression_ast, expression_attribute_names, table
        ):
            validated_ast = validated_new  # ONCE
        else:  # ONCE
            # Validate the UpdateExpression itself has all information
            validator = UpdateExpressionValidator(
                update_expression_ast,
                expression_attribute_names=expression_attribute_names,
                expression_attribute_values=expression_attribute_values,
                item=item,  # type: ignore[arg-type]
                table=table,
            )
            validated_ast = validator.validate()
        validated_ast.normalize()
        try:
            UpdateExpressionExecutor(
                validated_ast,
                item,  # type: ignore[arg-type]
                expression_attribute_names,
            ).execute()
        except ItemSizeTooLarge:
            raise ItemSizeToUpdateTooLarge()  # noqa: B904 - moto's own line

    else:
        item.update_with_attribute_updates(attribute_updates)  # type: ignore
    if table.stream_shard is not None:
        table.stream_shard.add(orig_item, item)
    return item  # type: ignore[return-value]


# --- errors ---------------------------------------------------------------------------------

_rest_error_init = _RESTError.__init__


@functools.lru_cache(maxsize=CACHE_SIZE)
def _error_xml(error_type: str, message: str, include_type_sender: bool) -> str:
    from xmltodict import unparse

    error = {"Code": error_type, "Message": message}
    if include_type_sender:
        error["Type"] = "Sender"
    response = {"ErrorResponse": {"Errors": {"Error": error}}}
    return str(unparse(response, full_document=True))


def init_rest_error(self: _RESTError, error_type: str, message: str, _: str = "", **__: Any) -> None:
    # moto 5.2.5's _RESTError.__init__, with the XML body kept per (type, message): every
    # DynamoDB error builds it and then replaces it with JSON, and moto's update raises and
    # catches one (ProvidedKeyDoesNotExist) for each ADD to an attribute not there yet.
    if not (type(error_type) is str and type(message) is str):
        _rest_error_init(self, error_type, message, _, **__)
        return
    super(_RESTError, self).__init__()
    self.error_type = error_type
    self.message = message
    self.description = _error_xml(error_type, message, bool(self.include_type_sender))
    self.content_type = APP_XML


# --- serializing AttributeValues ----------------------------------------------------------

_serialize_structure = BaseJSONSerializer._serialize_type_structure
ATTRIBUTE_VALUE = "AttributeValue"


def serialize_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    members = shape.members
    if (
        shape.name != ATTRIBUTE_VALUE
        or not isinstance(value, dict)
        or not value
        or not all(k in members for k in value)
    ):
        _serialize_structure(self, serialized, value, shape, key)
        return
    # moto's ResponseSerializer._serialize_type_structure, over the members present only:
    # an absent member's aliases (s, StringAttributeValue...) are no member names, so none
    # is a key here, and moto would find nothing for it.
    wrapper: Any = self.MAP_TYPE() if key else serialized
    for member_key, member_shape in members.items():
        if member_key in value:
            member_shape.parent = shape
            self._serialize_structure_member(wrapper, value, member_shape, member_key)
    if key:
        self._default_serialize(serialized, wrapper, shape, key)


# --- traversing UpdateExpression ASTs -----------------------------------------------------

_traverse = DepthFirstTraverser.traverse_node_recursively
_is_node: dict[type, bool] = {}
_processed: dict[tuple[type, type], bool] = {}


def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
    # moto 5.2.5's DepthFirstTraverser.traverse_node_recursively, with its two isinstance
    # checks answered per class: a processor's classes are its _processing_map's keys, the
    # same for every instance (nodes_to_be_processed), and no class is registered on an ABC.
    # The traverser's own pre_processing_of_child does nothing: it is not called, and then
    # neither is the recursion into a child that is no Node (it returns the child as it is).
    kind_self = type(self)
    if kind_self.traverse_node_recursively is not traverse_node_recursively:  # overridden
        return _traverse_node(self, node, child_id, self.pre_processing_of_child, True)
    pre = self.pre_processing_of_child
    if kind_self.pre_processing_of_child is _traverser_pre_processing:
        pre = None
    return _traverse_node(self, node, child_id, pre, False)


def _traverse_node(self: Any, node: Any, child_id: int, pre: Any, overridden: bool) -> Any:
    kind = type(node)
    is_node = _is_node.get(kind)
    if is_node is None:
        is_node = _is_node[kind] = isinstance(node, Node)
    if is_node:
        parent_node = node.parent
        if node.children is not None:
            if overridden:
                for i, child_node in enumerate(node.children):
                    pre(node, i)
                    self.traverse_node_recursively(child_node, i)
            elif pre is None:
                for i, child_node in enumerate(node.children):
                    if type(child_node) not in ATOMIC:
                        _traverse_node(self, child_node, i, None, False)
            else:
                for i, child_node in enumerate(node.children):
                    pre(node, i)
                    _traverse_node(self, child_node, i, pre, False)
        key = (type(self), kind)
        processed = _processed.get(key)
        if processed is None:
            processed = _processed[key] = isinstance(node, self.nodes_to_be_processed())
        if processed:
            node = self.process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
    return node


# --- building items -----------------------------------------------------------------------

_item_init = Item.__init__
ITEM_SIZE_LIMIT = 405000  # LimitedSizeDict's


def _size(value: Any) -> int:
    return value.size() if type(value) is DynamoType else bytesize(str(value))


def init_item(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    # moto's Item.__init__, with LimitedSizeDict.__setitem__'s check made on a running total:
    # before each attribute, the attributes so far (unchanged since) plus the new one.
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        typed = DynamoType(value)
        total += _size(key) + _size(typed)
        if total > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, typed)


# --- SQS queue attributes ---------------------------------------------------------------

_send_message = SQSBackend.send_message
_get_queue_attributes = SQSBackend.get_queue_attributes
_retained = SQSBackend.is_message_valid_based_on_retention_period


def queue_attribute(queue: Queue, name: str) -> Any:
    """`queue.attributes.get(name)`, computing that attribute alone (Queue.attributes' rules)."""
    value: Any = None
    if (
        name in queue.BASE_ATTRIBUTES
        or (queue.fifo_queue and name in queue.FIFO_ATTRIBUTES)
        or (queue.kms_master_key_id and name in queue.KMS_ATTRIBUTES)  # type: ignore[attr-defined]
    ):
        value = getattr(queue, camelcase_to_underscores(name))
    if name == "Policy" and queue.policy:
        value = queue.policy
    if name == "RedrivePolicy" and queue.redrive_policy:
        value = json.dumps(queue.redrive_policy)
    return str(value).lower() if isinstance(value, bool) else value


def send_message(
    self: SQSBackend,
    queue_name: str,
    message_body: str,
    message_attributes: dict[str, Any] | None = None,
    delay_seconds: int | None = None,
    deduplication_id: str | None = None,
    group_id: str | None = None,
    system_attributes: dict[str, Any] | None = None,
    validate_group_id: bool = True,
) -> Message:
    # moto 5.2.5's SQSBackend.send_message, line for line, but for the marked line.
    queue = self.get_queue(queue_name)

    self._validate_message(
        queue,
        message_body=message_body,
        delay_seconds=int(delay_seconds or 0),
        deduplication_id=deduplication_id,
        group_id=group_id,
        validate_group_id=validate_group_id,
    )

    if delay_seconds is not None:  # noqa: SIM108 - moto's own lines
        delay_seconds = int(delay_seconds)
    else:
        delay_seconds = queue.delay_seconds  # type: ignore

    message_id = str(random.uuid4())
    message = Message(message_id, message_body, system_attributes)

    # if content based deduplication is set then set sha256 hash of the message
    # as the deduplication_id
    if queue_attribute(queue, "ContentBasedDeduplication") == "true":  # ATTRIBUTE
        sha256 = hashlib.sha256()
        sha256.update(message_body.encode("utf-8"))
        message.deduplication_id = sha256.hexdigest()

    # Attributes, but not *message* attributes
    if deduplication_id is not None:
        message.deduplication_id = deduplication_id
        message.sequence_number = "".join(random.choice(string.digits) for _ in range(20))

    if group_id is not None:
        message.group_id = group_id

    if message_attributes:
        message.message_attributes = message_attributes

    if delay_seconds > MAXIMUM_MESSAGE_DELAY:
        msg = (
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. "
            "Reason: DelaySeconds must be >= 0 and <= 900."
        )
        raise InvalidParameterValue(msg)

    message.mark_sent(delay_seconds=delay_seconds)

    queue.add_message(message)

    return message


def get_queue_attributes(self: SQSBackend, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
    # moto 5.2.5's SQSBackend.get_queue_attributes, but for the marked lines.
    queue = self.get_queue(queue_name)
    if not attribute_names:
        return {}

    valid_names = ["All"] + queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES  # noqa: RUF005
    invalid_name = next((name for name in attribute_names if name not in valid_names), None)

    if invalid_name or invalid_name == "":
        raise InvalidAttributeName(invalid_name)

    attributes = {}

    if "All" in attribute_names:
        attributes = queue.attributes
    else:
        for name in attribute_names:  # ATTRIBUTE: each one asked for, once
            value = queue_attribute(queue, name)  # ATTRIBUTE
            if value is not None:
                attributes[name] = value

    return attributes


def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
    # moto 5.2.5's, reading the one attribute (always present: a base attribute).
    retention_period = queue_attribute(self.get_queue(queue_name), "MessageRetentionPeriod")
    retain_until = retention_period + message.sent_timestamp / 1000  # type: ignore
    return bool(retain_until > unix_time())


# --- dispatch -----------------------------------------------------------------------------

_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_method_names = moto.core.utils.method_names_from_class
_hosts: dict[str | None, Any] = {}


def backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    # Called under the dispatcher's own lock; the patterns and modules are fixed at import.
    if host not in _hosts:
        _hosts[host] = _backend_for_host(self, host)
    return _hosts[host]


@functools.lru_cache(maxsize=256)
def _names_of(clazz: Any) -> tuple[str, ...]:
    return tuple(_method_names(clazz))


def method_names(clazz: object) -> list[str]:
    return list(_names_of(clazz)) if isinstance(clazz, type) else _method_names(clazz)


# --- install ------------------------------------------------------------------------------


def _check_moto() -> None:
    if moto.__version__ != MOTO_VERSION:
        raise MotoChanged(
            f"sscard_ops.moto_speedups was written for moto {MOTO_VERSION}, found {moto.__version__}: "
            "read each patched function against this file, then update the pins"
        )
    for name, (function, expected) in ORIGINALS.items():
        found = _sha256(function)
        if found != expected:
            raise MotoChanged(
                f"moto {MOTO_VERSION}'s {name} is not the source this file was written against "
                f"(sha256 {found}): read it again, then update ORIGINALS"
            )


def install() -> None:
    """Patch this process's moto (server and mock_aws). Idempotent; MotoChanged if moto is not
    the pinned version or a patched function's source changed."""
    _check_moto()
    ConditionExpressionParser.parse = parse_condition  # type: ignore[method-assign]
    ConditionExpressionParser._lex_condition_expression = lex_condition  # type: ignore[method-assign]
    UpdateExpressionParser.make = classmethod(make_update)
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    Validator.__init__ = init_validator  # type: ignore[method-assign]
    Validator.validate = validate  # type: ignore[method-assign]
    _RESTError.__init__ = init_rest_error  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]
    Item.__init__ = init_item  # type: ignore[method-assign]
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = backend_for_host  # type: ignore[method-assign]
    moto.core.responses.method_names_from_class = method_names  # type: ignore[attr-defined]


def installed() -> bool:
    return ConditionExpressionParser.parse is parse_condition


def uninstall() -> None:
    """moto's own code again (for tests that compare the two)."""
    ConditionExpressionParser.parse = _parse  # type: ignore[method-assign]
    ConditionExpressionParser._lex_condition_expression = _lex  # type: ignore[method-assign]
    UpdateExpressionParser.make = classmethod(_make_update)
    DynamoDBBackend.update_item = _update_item  # type: ignore[method-assign]
    Validator.__init__ = _validator_init  # type: ignore[method-assign]
    Validator.validate = _validate  # type: ignore[method-assign]
    _RESTError.__init__ = _rest_error_init  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = _serialize_structure  # type: ignore[method-assign]
    Item.__init__ = _item_init  # type: ignore[method-assign]
    DepthFirstTraverser.traverse_node_recursively = _traverse
    SQSBackend.send_message = _send_message  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = _get_queue_attributes  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _backend_for_host  # type: ignore[method-assign]
    moto.core.responses.method_names_from_class = _method_names  # type: ignore[attr-defined]
    _hosts.clear()
