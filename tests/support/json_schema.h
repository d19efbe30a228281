/*
 * json_schema: a JSON Schema (draft 2020-12) validator over jansson, for
 * the part of the standard docs/events.schema.json uses, so that the tests
 * can hold every event they read against the schema without a dependency
 * outside Debian's C libraries.
 *
 * Keywords: type (a name or a list), const, enum, required, properties,
 * additionalProperties, items, minItems, maxItems, minimum, maximum,
 * minLength, maxLength (in code points), pattern (POSIX extended regular
 * expressions: write patterns both ERE and ECMA 262 read alike), $ref to a
 * JSON pointer in the same document ("#/$defs/name"), allOf, anyOf, oneOf,
 * not, if / then / else, and boolean schemas. Annotations ($schema, $id,
 * $defs, $comment, title, description, examples, default) are ignored.
 * Any other keyword is refused by json_schema_check_supported, so the
 * validator never silently passes a constraint it does not know; the
 * reference test (tests/schema) holds it against python3-jsonschema.
 */
#ifndef SIPTAP_TESTS_JSON_SCHEMA_H
#define SIPTAP_TESTS_JSON_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Does the schema document root use only the keywords above, do its $refs
 * resolve and its patterns compile? false with the first problem, and the
 * schema path where it is, in err. */
bool json_schema_check_supported(const json_t *root, char *err, size_t errlen);

/* Validates instance against schema, a node of the document root (or root
 * itself). false with "JSON pointer in the instance: what is wrong" in err
 * (the first failure found). */
bool json_schema_validate(const json_t *root, const json_t *schema, const json_t *instance,
                          char *err, size_t errlen);

#endif
