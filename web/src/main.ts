/** Entry point of the browser bundle (web/dist/app.js). */
import L from 'leaflet';
import { ConsoleApp } from './app';

// The zone editor (leaflet-geoman, web/dist/zone-editor.js, loaded on demand) extends the global `L`.
(window as unknown as { L: typeof L }).L = L;

const root = document.getElementById('app');
if (root) void new ConsoleApp(root).start();
