/**
 * Reads a YAML document into a small tree that keeps the source offset of
 * every node and key, so that errors can name a line and column. Built on the
 * event stream of `js-yaml` (`parseEvents`), with its YAML 1.2 core-schema
 * scalar resolvers; every limit against hostile input is enforced here.
 *
 * @module
 */
import {
  boolCoreTag,
  type Event,
  EVENT_ID,
  floatCoreTag,
  getScalarValue,
  intCoreTag,
  NOT_RESOLVED,
  nullCoreTag,
  parseEvents,
  type ScalarTagDefinition,
  strTag,
  YAMLException,
} from "js-yaml";
import { clip, YamlWorkflowError } from "./_errors.ts";

/** A scalar: a string, number, boolean or null, with its source offset. */
export interface YamlScalar {
  kind: "scalar";
  /** Offset of the value in the source. */
  offset: number;
  /** The resolved value (YAML 1.2 core schema). */
  value: string | number | boolean | null;
}

/** A sequence, with its source offset. */
export interface YamlSequence {
  kind: "sequence";
  /** Offset of the sequence in the source. */
  offset: number;
  /** The items. */
  items: YamlNode[];
}

/** One key of a mapping: its text, where it is, and its value. */
export interface YamlEntry {
  /** The key, read as text. */
  key: string;
  /** Offset of the key in the source. */
  offset: number;
  /** The value. */
  value: YamlNode;
}

/** A mapping, with its source offset; keys are unique strings. */
export interface YamlMapping {
  kind: "mapping";
  /** Offset of the mapping in the source. */
  offset: number;
  /** The entries, in source order. */
  entries: YamlEntry[];
}

/** Any node of the tree. */
export type YamlNode = YamlScalar | YamlSequence | YamlMapping;

/** Limits against hostile documents. */
export interface YamlLimits {
  /** Most characters in the document. */
  maxLength: number;
  /** Most nesting levels of sequences and mappings. */
  maxDepth: number;
  /** Most aliases (`*name`). */
  maxAliases: number;
  /** Most nodes once aliases are expanded. */
  maxNodes: number;
}

/** The limits used by `loadWorkflow`. */
export const YAML_LIMITS: Readonly<YamlLimits> = Object.freeze({
  maxLength: 1_048_576,
  maxDepth: 64,
  maxAliases: 100,
  maxNodes: 100_000,
});

/** Keys that could reach an object's prototype if they were ever assigned. */
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);

const CORE = "tag:yaml.org,2002:";
const SCALAR_TAGS: ReadonlyMap<string, ScalarTagDefinition> = new Map<string, ScalarTagDefinition>(
  [strTag, nullCoreTag, boolCoreTag, intCoreTag, floatCoreTag].map((tag) => [tag.tagName, tag]),
);
const IMPLICIT_TAGS: readonly ScalarTagDefinition[] = [
  nullCoreTag,
  boolCoreTag,
  intCoreTag,
  floatCoreTag,
];
const PLAIN = 1;

/** Makes a function that converts source offsets to 1-based lines and columns. */
export function locator(text: string): (offset: number) => { line: number; column: number } {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return (offset) => {
    const at = Math.max(0, Math.min(offset, text.length));
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle]! <= at) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: at - starts[low]! + 1 };
  };
}

/** Builds a {@linkcode YamlWorkflowError} at an offset. */
export function errorAt(
  text: string,
  offset: number,
  key: string | undefined,
  detail: string,
  cause?: unknown,
): YamlWorkflowError {
  const { line, column } = locator(text)(offset);
  return new YamlWorkflowError(
    detail,
    key === undefined ? { line, column } : { line, column, key },
    {
      cause,
    },
  );
}

interface Frame {
  node: YamlSequence | YamlMapping;
  /** Nodes in the subtree once aliases are expanded, this node included. */
  size: number;
  anchor: string | undefined;
  /** A mapping's key waiting for its value. */
  pendingKey: { key: string; offset: number } | undefined;
  keys: Set<string> | undefined;
  /** The key this node is the value of, for messages. */
  parentKey: string | undefined;
}

/**
 * Parses one YAML document into a positioned tree.
 *
 * @throws {YamlWorkflowError} On a syntax error, a broken limit, an
 * unsupported tag, a duplicate or reserved key, or an unknown alias.
 */
export function readYaml(text: string, limits: YamlLimits = YAML_LIMITS): YamlNode {
  if (text.length > limits.maxLength) {
    throw new YamlWorkflowError(
      `Cannot load a document of ${text.length} characters as the limit is ${limits.maxLength}: split the workflow or shorten it`,
      { line: 1, column: 1 },
    );
  }
  let events: Event[];
  try {
    events = parseEvents(text, { maxDepth: limits.maxDepth });
  } catch (error) {
    throw syntaxError(error);
  }
  const documents = events.filter((event) => event.type === EVENT_ID.DOCUMENT);
  if (documents.length !== 1) {
    const detail = documents.length === 0
      ? "Cannot load an empty document: write a mapping with 'name' and 'steps'"
      : "Cannot load several documents ('---'): keep one workflow per text";
    throw new YamlWorkflowError(detail, { line: 1, column: 1 });
  }
  const document = documents[0]!;
  if (document.type === EVENT_ID.DOCUMENT && document.directives.some((d) => d.kind === "tag")) {
    throw new YamlWorkflowError(
      "Cannot use a %TAG directive: remove it; workflows use no custom tags",
      { line: 1, column: 1 },
    );
  }
  return compose(text, events, limits);
}

function syntaxError(error: unknown): YamlWorkflowError {
  if (error instanceof YAMLException) {
    const mark = error.mark;
    const location = mark
      ? { line: mark.line + 1, column: mark.column + 1 }
      : { line: 1, column: 1 };
    const detail = /exceeded maxDepth/.test(error.reason)
      ? `Cannot nest sequences and mappings deeper than the limit (${error.reason}): flatten the document`
      : `Cannot parse the YAML (${error.reason}): fix the syntax`;
    return new YamlWorkflowError(detail, location, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new YamlWorkflowError(
    `Cannot parse the YAML (${message}): fix the syntax`,
    { line: 1, column: 1 },
    { cause: error },
  );
}

function compose(text: string, events: readonly Event[], limits: YamlLimits): YamlNode {
  const anchors = new Map<string, { node: YamlNode; size: number }>();
  const stack: Frame[] = [];
  let root: YamlNode | undefined;
  let aliases = 0;
  let lastOffset = 0;
  const fail = (offset: number, key: string | undefined, detail: string): never => {
    throw errorAt(text, offset, key, detail);
  };

  const currentKey = (): string | undefined => {
    const top = stack[stack.length - 1];
    return top?.pendingKey?.key ?? top?.parentKey;
  };

  /** Attaches a finished node (or an alias to one) to its parent. */
  const attach = (node: YamlNode, size: number, offset: number, raw?: string): void => {
    const parent = stack[stack.length - 1];
    if (!parent) {
      root = node;
      return;
    }
    parent.size += size;
    if (parent.size > limits.maxNodes) {
      fail(
        offset,
        currentKey(),
        `Cannot expand the document past ${limits.maxNodes} nodes: use fewer aliases or a smaller workflow`,
      );
    }
    if (parent.node.kind === "sequence") {
      parent.node.items.push(node);
      return;
    }
    if (parent.pendingKey === undefined) {
      // This node is a key.
      if (node.kind !== "scalar") {
        fail(offset, parent.parentKey, "Cannot use a sequence or mapping as a key: use a name");
      }
      // A key is read as its text: `1:` and `true:` are the keys "1" and "true".
      const key = raw ?? String((node as YamlScalar).value);
      if (RESERVED_KEYS.has(key)) {
        fail(
          offset,
          key,
          `Cannot use the reserved key '${key}': rename it; '__proto__', 'constructor' and 'prototype' are not allowed`,
        );
      }
      if (parent.keys!.has(key)) {
        fail(offset, key, `Cannot repeat the key '${clip(key)}' in one mapping: keep one`);
      }
      parent.keys!.add(key);
      parent.pendingKey = { key, offset };
      return;
    }
    parent.node.entries.push({
      key: parent.pendingKey.key,
      offset: parent.pendingKey.offset,
      value: node,
    });
    parent.pendingKey = undefined;
  };

  const anchorOf = (event: { anchorStart: number; anchorEnd: number }): string | undefined =>
    event.anchorStart >= 0 ? text.slice(event.anchorStart, event.anchorEnd) : undefined;

  const tagOf = (
    event: { tagStart: number; tagEnd: number },
    offset: number,
  ): string | undefined => {
    if (event.tagStart < 0) return undefined;
    const raw = clip(text.slice(event.tagStart, event.tagEnd));
    if (raw === "!") return "!";
    if (raw.startsWith("!!")) return CORE + raw.slice(2);
    if (raw.startsWith("!<") && raw.endsWith(">")) return raw.slice(2, -1);
    return fail(
      offset,
      currentKey(),
      `Cannot use the tag '${
        clip(raw)
      }': workflows allow only the standard tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map`,
    );
  };

  for (const event of events) {
    switch (event.type) {
      case EVENT_ID.DOCUMENT:
        break;
      case EVENT_ID.SEQUENCE:
      case EVENT_ID.MAPPING: {
        const offset = event.start >= 0 ? event.start : lastOffset;
        lastOffset = offset;
        const isMapping = event.type === EVENT_ID.MAPPING;
        const tag = tagOf(event, offset);
        const expected = CORE + (isMapping ? "map" : "seq");
        if (tag !== undefined && tag !== expected) {
          fail(
            offset,
            currentKey(),
            `Cannot use the tag '${clip(text.slice(event.tagStart, event.tagEnd))}' on a ${
              isMapping ? "mapping" : "sequence"
            }: remove it`,
          );
        }
        const parentKey = currentKey();
        stack.push({
          node: isMapping
            ? { kind: "mapping", offset, entries: [] }
            : { kind: "sequence", offset, items: [] },
          size: 1,
          anchor: anchorOf(event),
          pendingKey: undefined,
          keys: isMapping ? new Set() : undefined,
          parentKey,
        });
        break;
      }
      case EVENT_ID.POP: {
        const frame = stack.pop();
        if (!frame) break; // the document's end
        if (frame.anchor !== undefined) {
          anchors.set(frame.anchor, { node: frame.node, size: frame.size });
        }
        attach(frame.node, frame.size, frame.node.offset);
        break;
      }
      case EVENT_ID.SCALAR: {
        const quoted = event.style === 2 || event.style === 3;
        const offset = event.valueStart >= 0 ? event.valueStart - (quoted ? 1 : 0) : lastOffset;
        lastOffset = offset;
        const source = event.valueStart >= 0 ? getScalarValue(text, event) : "";
        const tag = tagOf(event, offset);
        let value: string | number | boolean | null = source;
        if (tag === undefined) {
          if (event.style === PLAIN) value = resolveImplicit(source);
        } else if (tag !== "!") {
          const definition = SCALAR_TAGS.get(tag);
          if (!definition) {
            fail(
              offset,
              currentKey(),
              `Cannot use the tag '${
                clip(text.slice(event.tagStart, event.tagEnd))
              }' on a scalar: workflows allow only !!str, !!int, !!float, !!bool and !!null`,
            );
          }
          const resolved = definition!.resolve(source, true, tag);
          if (resolved === NOT_RESOLVED) {
            fail(
              offset,
              currentKey(),
              `Cannot read '${clip(source)}' as ${
                clip(text.slice(event.tagStart, event.tagEnd))
              }: fix the value or remove the tag`,
            );
          }
          value = resolved as string | number | boolean | null;
        }
        const node: YamlScalar = { kind: "scalar", offset, value };
        const anchor = anchorOf(event);
        if (anchor !== undefined) anchors.set(anchor, { node, size: 1 });
        attach(node, 1, offset, source);
        break;
      }
      case EVENT_ID.ALIAS: {
        const name = text.slice(event.anchorStart, event.anchorEnd);
        const offset = Math.max(0, event.anchorStart - 1);
        lastOffset = offset;
        if (++aliases > limits.maxAliases) {
          fail(
            offset,
            currentKey(),
            `Cannot use more than ${limits.maxAliases} aliases: repeat less, or write the values out`,
          );
        }
        const target = anchors.get(name);
        if (!target) {
          fail(
            offset,
            currentKey(),
            `Cannot find the anchor '&${name}' of alias '*${name}': define it before (and outside) its use`,
          );
        }
        attach(target!.node, target!.size, offset);
        break;
      }
    }
  }
  if (root === undefined) {
    throw new YamlWorkflowError(
      "Cannot load an empty document: write a mapping with 'name' and 'steps'",
      { line: 1, column: 1 },
    );
  }
  return root;
}

function resolveImplicit(source: string): string | number | boolean | null {
  for (const tag of IMPLICIT_TAGS) {
    const value = tag.resolve(source, false, tag.tagName);
    if (value !== NOT_RESOLVED) return value as number | boolean | null;
  }
  return source;
}
