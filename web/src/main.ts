/** Entry point of the browser bundle (web/dist/app.js). */
import L from 'leaflet';

// leaflet-geoman extends the global `L`; it must exist before the plugin runs.
(window as unknown as { L: typeof L }).L = L;
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('@geoman-io/leaflet-geoman-free');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ConsoleApp } = require('./app') as typeof import('./app');

const root = document.getElementById('app');
if (root) void new ConsoleApp(root).start();
