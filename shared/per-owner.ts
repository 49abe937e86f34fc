/**
 * One value per (owner, key), made on first use and kept while the owner lives: the per-process
 * hand-offs that group work, one for each queues connection and setting (a wait, a priority).
 */
export function perOwner<O extends object, K, V>() {
  const byOwner = new WeakMap<O, Map<K, V>>();
  return {
    /** The owner's value for `key`, made by `make` the first time it is asked for. */
    get(owner: O, key: K, make: () => V): V {
      let values = byOwner.get(owner);
      if (!values) {
        values = new Map();
        byOwner.set(owner, values);
      }
      let v = values.get(key);
      if (v === undefined) {
        v = make();
        values.set(key, v);
      }
      return v;
    },
    /** Every value made for this owner so far. */
    all(owner: O): V[] {
      return [...(byOwner.get(owner)?.values() ?? [])];
    },
  };
}

/** One value per owner, made by `make` on first use and kept while the owner lives (one per pool). */
export function onePer<O extends object, V>(make: (owner: O) => V): (owner: O) => V {
  const values = new WeakMap<O, V>();
  return (owner) => {
    let v = values.get(owner);
    if (v === undefined) {
      v = make(owner);
      values.set(owner, v);
    }
    return v;
  };
}
