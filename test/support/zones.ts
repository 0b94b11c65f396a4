import path from 'path';

/**
 * The zones the service and console tests are written against (their drop points, no-fly zones and
 * launch sites). The demo that `npm start` loads is the Fugou scenario in sims/scenarios/.
 */
export const TEST_ZONES_FILE = path.join(__dirname, '..', '..', 'planner', 'fixtures', 'demo-zones.geojson');
