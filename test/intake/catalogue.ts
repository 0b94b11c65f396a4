/** A small places catalogue inside the test zones (planner/fixtures/demo-zones.geojson). */
import type { Place } from '../../src/intake/places';

export const RIVERSIDE_B1: [number, number] = [114.402, 34.0675];
export const RIVERSIDE_GATE: [number, number] = [114.4015, 34.067];
export const GARDEN_B1: [number, number] = [114.38, 34.066];
/** Inside the helipad's no-fly zone. */
export const IN_NO_FLY: [number, number] = [114.396, 34.0638];

export function testCatalogue(gardenName = 'Garden Court'): Place[] {
  return [
    { id: 'riverside', kind: 'compound', name: { zh: '滨河小区', en: 'Riverside Estate' }, aliases: ['滨河'] },
    { id: 'riverside-b1', kind: 'building', parentId: 'riverside', name: { zh: '1号楼', en: 'Building 1' }, number: 1, drop: RIVERSIDE_B1 },
    { id: 'riverside-b2', kind: 'building', parentId: 'riverside', name: { zh: '2号楼', en: 'Building 2' }, number: 2, drop: [114.4025, 34.0678] },
    { id: 'riverside-gate', kind: 'drop-point', parentId: 'riverside', name: { zh: '西门', en: 'West gate' }, drop: RIVERSIDE_GATE },
    { id: 'garden', kind: 'compound', name: { zh: '花园小区', en: gardenName } },
    { id: 'garden-b1', kind: 'building', parentId: 'garden', name: { zh: '1号楼', en: 'Building 1' }, number: 1, drop: GARDEN_B1 },
  ];
}
