/**
 * Second bundle (web/dist/zone-editor.js): leaflet-geoman, loaded only when a supervisor or admin
 * opens the zone editor, so operators never download or run it. It extends the global `L` that
 * app.js put on window.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('@geoman-io/leaflet-geoman-free');
