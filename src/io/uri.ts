/** True for http(s)://, file:// and other URLs (left as they are: libav opens them); false for file paths. */
export const isUrl = (uri: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(uri);
