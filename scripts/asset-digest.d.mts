export const ASSET_DIRS: string[];
export function assetDigest(root: string): string;
