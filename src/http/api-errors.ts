/**
 * The query service names parameters as its JSON params do (`/userIds/0`, `/limit`), which is right
 * over MQTT, where the caller wrote those params. An HTTP caller wrote a path and a query string:
 * this rewrites a 400's wording in those terms, e.g. `/v1/users/%24SYS` gets "the user id in the path
 * ('$SYS') is not a valid id: starts with '$'" rather than "/userIds/0 is not a valid id".
 */
export interface RequestShape {
  /** The id taken from the path, and which params key carries it (`userId`, `userIds`, `groupId`). */
  pathId?: { key: string; value: string; noun: 'user' | 'group' };
  /** The query parameter a params list came from (`ids` for userIds / groupIds). */
  listParam?: { key: string; values: string[] };
}

export function inRequestTerms(content: string, shape: RequestShape): string {
  let text = content.replace(/^invalid params: /, '');
  const { pathId, listParam } = shape;
  if (pathId) {
    const where = `the ${pathId.noun} id in the path ('${pathId.value}')`;
    text = text.replace(new RegExp(`^/${pathId.key}(/0)? `), `${where} `);
  }
  if (listParam) {
    text = text.replace(new RegExp(`^/${listParam.key}/(\\d+) `), (_m, index: string) => `item ${Number(index) + 1} of query parameter 'ids' ('${listParam.values[Number(index)] ?? ''}') `);
    if (text.replace(/^\(root\) /, '') === `must have required property '${listParam.key}'`) text = "query parameter 'ids' is required, e.g. ?ids=a,b";
  }
  return text.replace(/^\/(limit|offset) /, "query parameter '$1' ");
}
