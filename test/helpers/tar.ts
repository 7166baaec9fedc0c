// Test images' tar writer: the production one (release/tar.ts, which writes the installer
// image's layer), re-exported where the tests have always imported it from.
export { writeTar, type TarFile, type TarEntryKind } from '../../release/tar.js';
