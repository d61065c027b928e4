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

/** Firestore's REST `Value` JSON back to plain values: timestamps as Dates, integers as numbers. */
export function fromValue(value: Value): unknown {
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue;
  if (value.timestampValue) return new Date(value.timestampValue);
  if (value.integerValue !== undefined && value.integerValue !== null)
    return Number(value.integerValue);
  if (value.doubleValue !== undefined && value.doubleValue !== null) return value.doubleValue;
  if (value.booleanValue !== undefined && value.booleanValue !== null) return value.booleanValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(fromValue);
  if (value.mapValue) return fromFields(value.mapValue.fields ?? {});
  return null;
}

export function fromFields(fields: Fields): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) plain[key] = fromValue(value);
  return plain;
}

function isArray(value: Plain): value is readonly Plain[] {
  return Array.isArray(value);
}
