/** Alert sounds with WebAudio: no audio files to ship. The context is created on a user gesture (login). */

let ctx: AudioContext | null = null;
let enabled = true;

export function unlockAudio(): void {
  try {
    const Ctor = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!ctx && Ctor) ctx = new Ctor();
    void ctx?.resume();
  } catch {
    ctx = null;
  }
}

export function setSoundEnabled(on: boolean): void {
  enabled = on;
}

export function soundEnabled(): boolean {
  return enabled;
}

/** Warning: two 660 Hz beeps; critical: three 880 Hz beeps. Returns false when no sound could be played. */
export function beep(level: 'warning' | 'critical'): boolean {
  if (!enabled || !ctx) return false;
  const freq = level === 'critical' ? 880 : 660;
  const count = level === 'critical' ? 3 : 2;
  const t0 = ctx.currentTime + 0.01;
  for (let i = 0; i < count; i++) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = freq;
    const start = t0 + i * 0.25;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + 0.2);
  }
  return true;
}
