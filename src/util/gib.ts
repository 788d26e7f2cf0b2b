/** Bytes as GiB to one decimal, as the environment errors and warnings state sizes ("13.5 GiB"). */
export const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
