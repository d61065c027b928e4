// Plain values ⇄ Firestore's REST `Value` JSON, for shared/store/firestore-rest.ts. Encodes what
// @google-cloud/firestore writes for the same JavaScript values, so documents written by either
// client read the same through the other: integers as integerValue (a decimal string), other
// numbers as doubleValue, Dates as timestampValue (RFC 3339), undefined properties skipped (the
// client's ignoreUndefinedProperties).
// https://cloud.google.com/firestore/docs/reference/rest/v1/Value
import type { firestore_v1 } from '@googleapis/firestore';

export type Value = firestore_v1.Schema$Value;
export type Fields = Record<string, Value>;

export type Plain =
  | null
  | undefined
  | string
  | number
  | boolean
  | Date
  | readonly Plain[]
  | { readonly [key: string]: Plain };

export function toValue(value: Plain): Value {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { booleanValue: value };
  if (typeof value === 'number')
    return Number.isSafeInteger(value) ? { integerValue: String(value) } : { doubleValue: value };
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError('invalid Date');
    return { timestampValue: value.toISOString() };
  }
  if (isArray(value)) return { arrayValue: { values: value.map(toValue) } };
  return { mapValue: { fields: toFields(value) } };
}

export function toFields(object: { readonly [key: string]: Plain }): Fields {
  const fields: Fields = {};
  for (const [key, value] of Object.entries(object))
    if (value !== undefined) fields[key] = toValue(value);
  return fields;
}

/** A string field, or undefined when absent or of another type. */
export function stringField(fields: Fields, key: string): string | undefined {
  const value = fields[key]?.stringValue;
  return typeof value === 'string' ? value : undefined;
}

function isArray(value: Plain): value is readonly Plain[] {
  return Array.isArray(value);
}
