/**
 * The console shell: login, header (link state, user, language, base map), map, command bar and the
 * role's tabs; the WebSocket feeding live frames, deliveries and alerts into the store.
 */
import { ApiClient, ApiError } from './api';
import { h, replaceChildren, toast } from './dom';
import { detectLang, getLang, isLang, LANGS, onLangChange, setLang, t } from './i18n';
import { LiveLink, type LinkStatus } from './live-link';
import { MapView } from './map-view';
import { capabilitiesFor, errorText, Store, type Ctx } from './context';
import { resolveBasemap, type BasemapConfig, type BasemapHealth } from './basemap';
import { unlockAudio } from './sound';
import { JobsPanel } from './panels/jobs';
import { CommandBar } from './panels/command-bar';
import { VehiclesPanel } from './panels/vehicles';
import { AlertsPanel } from './panels/alerts';
import { ZonesPanel } from './panels/zones';
import { AuditPanel } from './panels/audit';
import { TrainerPanel } from './panels/trainer';
import { BASEMAP_STORAGE_KEY, SettingsPanel } from './panels/settings';
import { VehiclePopup } from './panels/vehicle-popup';
import { AlertBanner } from './panels/alert-banner';
import { BoardPanel } from './panels/board';
import { RequestsPanel } from './panels/requests';
import { PlacesCache, PlacesPanel } from './panels/places';
import { ALERTING_STATUSES, flightStatus, statusSinceHint } from './vehicle-status';
import type { Alert, Delivery, Me, ServerMessage, ZonesDoc } from './types';

const LANG_KEY = 'dropline.lang';

function storageGet(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
function storageSet(key: string, v: string | null): void {
  try {
    if (v == null) localStorage.removeItem(key);
    else localStorage.setItem(key, v);
  } catch {
    /* private mode */
  }
}

type TabId = 'jobs' | 'board' | 'requests' | 'vehicles' | 'alerts' | 'zones' | 'places' | 'audit' | 'trainer' | 'settings';

export class ConsoleApp {
  private readonly api: ApiClient;
  private deployed: { basemap?: Partial<BasemapConfig> } = {};
  private teardown: Array<() => void> = [];

  constructor(private readonly root: HTMLElement) {
    this.api = new ApiClient({ onUnauthenticated: () => this.onUnauthenticated() });
    setLang(detectLang(storageGet(LANG_KEY), navigator.languages ?? [navigator.language]));
    document.documentElement.lang = getLang();
    onLangChange((l) => {
      storageSet(LANG_KEY, l);
      document.documentElement.lang = l;
    });
  }

  async start(): Promise<void> {
    try {
      const r = await fetch('config.json', { cache: 'no-cache' });
      if (r.ok) this.deployed = (await r.json()) as typeof this.deployed;
    } catch {
      /* no deployment config: defaults */
    }
    try {
      const me = await this.api.get<Me>('/api/me');
      if (me.mustChangePassword) this.showPasswordChange(me);
      else this.enter(me);
    } catch {
      this.showLogin();
    }
  }

  private unauthHandled = false;
  private onUnauthenticated(): void {
    if (this.unauthHandled) return;
    this.unauthHandled = true;
    this.leave();
    this.showLogin(t('login.expired'));
  }

  private langSelect(testid: string): HTMLSelectElement {
    const sel = h('select', { 'data-testid': testid, 'aria-label': t('settings.language') }, LANGS.map((l) => h('option', { value: l }, t(`lang.${l}`))));
    sel.value = getLang();
    sel.addEventListener('change', () => {
      if (isLang(sel.value)) setLang(sel.value);
    });
    return sel;
  }

  showLogin(message?: string): void {
    const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-username' });
    const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
    const err = h('p', { class: 'bad', role: 'alert', 'data-testid': 'login-error' }, message ?? '');
    const form = h('form', { class: 'login-box', 'data-testid': 'login-form' },
      h('h1', null, 'Dropline'),
      h('p', { class: 'muted' }, t('login.subtitle')),
      h('div', { class: 'field' }, h('label', { for: 'login-user' }, t('login.username')), user),
      h('div', { class: 'field' }, h('label', { for: 'login-pass' }, t('login.password')), pass),
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, t('login.submit')),
      err,
      h('div', { class: 'field' }, this.langSelect('login-lang')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      unlockAudio();
      err.textContent = '';
      try {
        const r = await this.api.post<{ token: string; role: Me['role']; username: string; mustChangePassword?: boolean }>('/api/login', { username: user.value.trim(), password: pass.value });
        this.api.token = r.token;
        const me: Me = { username: r.username ?? user.value.trim(), role: r.role, mustChangePassword: !!r.mustChangePassword };
        if (me.mustChangePassword) this.showPasswordChange(me, pass.value);
        else this.enter(me);
      } catch (ex) {
        const status = (ex as ApiError).status;
        const retryS = Number((ex as ApiError & { details?: { retryAfterS?: number } }).details?.retryAfterS ?? 0);
        err.textContent = status === 401 ? t('login.failed') : status === 429 ? t('login.locked', { s: retryS || '…' }) : errorText(ex);
        pass.select();
      }
    });
    const off = onLangChange(() => {
      off();
      if (document.body.contains(form)) this.showLogin(err.textContent ?? undefined);
    });
    replaceChildren(this.root, h('main', { class: 'login' }, form));
    user.focus();
  }

  /** A generated first-start password is replaced before anything else can be done. */
  showPasswordChange(me: Me, current = ''): void {
    const field = (id: string, label: string, autocomplete: string, value = '') => {
      const input = h('input', { id, type: 'password', autocomplete, required: true, 'data-testid': id }) as HTMLInputElement;
      input.value = value;
      return { input, el: h('div', { class: 'field' }, h('label', { for: id }, t(label)), input) };
    };
    const cur = field('pw-current', 'password.current', 'current-password', current);
    const next = field('pw-next', 'password.next', 'new-password');
    const again = field('pw-again', 'password.repeat', 'new-password');
    const err = h('p', { class: 'bad', role: 'alert', 'data-testid': 'pw-error' });
    const form = h('form', { class: 'login-box', 'data-testid': 'password-form' },
      h('h1', null, t('password.title')),
      h('p', { class: 'muted' }, t('password.why')),
      cur.el, next.el, again.el,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'pw-submit' }, t('password.submit')),
      err);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      if (next.input.value !== again.input.value) {
        err.textContent = t('password.mismatch');
        return;
      }
      try {
        const r = await this.api.post<{ token: string }>('/api/password', { current: cur.input.value, next: next.input.value });
        this.api.token = r.token;
        this.enter({ username: me.username, role: me.role });
      } catch (ex) {
        err.textContent = errorText(ex);
      }
    });
    replaceChildren(this.root, h('main', { class: 'login' }, form));
    (current ? next.input : cur.input).focus();
  }

  private leave(): void {
    for (const fn of this.teardown.splice(0)) fn();
  }

  private enter(me: Me): void {
    this.leave();
    this.unauthHandled = false;
    const store = new Store();
    store.me = me;
    const caps = capabilitiesFor(me.role);
    const mapEl = h('div', { id: 'map', 'data-testid': 'map', role: 'application', 'aria-label': t('map.label') });
    const linkEl = h('span', { class: 'link-state', 'data-testid': 'link-state', 'data-state': 'connecting', role: 'status', 'aria-live': 'polite' });
    const baseEl = h('span', { class: 'basemap-state', 'data-testid': 'basemap-state', 'data-state': 'loading' });
    const tabsEl = h('nav', { class: 'tabs', role: 'tablist', 'aria-label': t('tabs.label') });
    const panelHost = h('div', { class: 'panel-host', role: 'tabpanel' });
    const langSel = this.langSelect('lang-select');
    const header = h('header', { class: 'topbar' },
      h('span', { class: 'brand' }, 'Dropline'),
      linkEl, baseEl,
      h('span', { class: 'spacer' }),
      h('span', { class: 'user', 'data-testid': 'user-badge', 'data-role': me.role }, me.username, h('span', { class: 'role' }, ` · ${t(`role.${me.role}`)}`)),
      langSel,
      h('button', { type: 'button', 'data-testid': 'logout', onclick: () => void this.logout() }, t('login.logout')));
    const bannerHost = h('div', { class: 'banner-host' });
    const shell = h('div', { class: 'shell', 'data-testid': 'console', 'data-role': me.role }, header, bannerHost,
      h('div', { class: 'body' }, h('div', { class: 'map-col' }, mapEl), h('aside', { class: 'side' }, tabsEl, panelHost)));
    replaceChildren(this.root, shell);

    const map = new MapView(mapEl, {
      onClick: (lat, lon) => {
        if (requests?.takeMapClick(lat, lon)) return; // a request waiting for its drop point takes the click
        if (caps.createJobs && !zonesEditing()) {
          jobs.setDrop([lon, lat]);
          selectTab('jobs');
        }
      },
      onSelectVehicle: (id) => {
        store.selectVehicle(id);
        popup.open(id);
      },
      onSelectDelivery: (id) => {
        store.selectJob(id);
        selectTab('jobs');
      },
      vehicleStatus: (id, frame, stale) => {
        const job = store.activeJob(id);
        const status = flightStatus(frame, stale, job);
        store.statusBook.update(id, status, statusSinceHint(status, frame, job));
        return { key: status, word: ALERTING_STATUSES.has(status) ? t(`fstatus.${status}`) : null, job: job?.id ?? null };
      },
    });
    const ctx: Ctx = { api: this.api, store, map, caps };
    (window as unknown as { droplineConsole?: unknown }).droplineConsole = {
      /** Screen position of a WGS-84 point relative to the map element (automation hook). */
      containerPoint: (lat: number, lon: number) => map.containerPoint(lat, lon),
      vehicleCount: () => map.vehicles.size,
      /** A crowded map: vehicles drawn on the shared canvas (on screen) and those with their own marker. */
      canvasVehicles: () => map.vehicles.canvasDrawn,
      domMarkers: () => map.vehicles.domMarkers,
      zonesVersion: () => store.zones?.version ?? 0,
      zoom: () => map.map.getZoom(),
      linkState: () => store.link.state,
    };

    // Base layer.
    let baseCfg = resolveBasemap({ query: new URLSearchParams(location.search).get('basemap'), stored: storageGet(BASEMAP_STORAGE_KEY), deployed: this.deployed.basemap ?? null });
    let baseHealth: BasemapHealth = 'loading';
    const renderBase = () => {
      baseEl.setAttribute('data-state', baseHealth);
      baseEl.setAttribute('data-provider', baseCfg.provider);
      baseEl.textContent = t(`basemap.health.${baseHealth}`, { p: t(`basemap.${baseCfg.provider}`) });
      baseEl.title = baseHealth === 'fallback' ? t('basemap.fallbackHint') : '';
    };
    const applyBase = () => map.setBasemap(baseCfg, (hl) => {
      baseHealth = hl;
      renderBase();
    });
    applyBase();

    // Panels.
    const jobs = new JobsPanel(ctx);
    const commandBar = new CommandBar(ctx);
    const vehiclesPanel = new VehiclesPanel(ctx);
    const popup = new VehiclePopup(ctx);
    const banner = new AlertBanner(ctx, (id) => {
      store.selectJob(id);
      selectTab('jobs');
    });
    bannerHost.appendChild(banner.el);
    // The selected drone is emphasised on the map, whoever selected it.
    store.on('selection', () => map.vehicles.select(store.selectedVehicle));
    const alerts = new AlertsPanel(ctx);
    const zones = new ZonesPanel(ctx);
    const zonesEditing = () => Boolean(zones.el.querySelector('[data-testid="zones-save"]'));
    const audit = caps.audit ? new AuditPanel(ctx) : null;
    // The supervisor's board: every open job and flight against the promise.
    const board = caps.audit ? new BoardPanel(ctx, (id) => {
      store.selectJob(id);
      selectTab('jobs');
    }) : null;
    const trainer = caps.train ? new TrainerPanel(ctx) : null;
    // Resident requests (not for trainers) and the places catalogue.
    const placesCache = new PlacesCache();
    const requests = me.role !== 'trainer' ? new RequestsPanel(ctx, placesCache) : null;
    const places = new PlacesPanel(ctx, placesCache);
    const settings = new SettingsPanel(ctx, () => baseCfg, (cfg) => {
      storageSet(BASEMAP_STORAGE_KEY, cfg ? JSON.stringify(cfg) : null);
      baseCfg = resolveBasemap({ query: null, stored: storageGet(BASEMAP_STORAGE_KEY), deployed: this.deployed.basemap ?? null });
      applyBase();
      settings.build();
    });
    mapEl.insertAdjacentElement('beforebegin', commandBar.el);

    const tabs: Array<{ id: TabId; el: HTMLElement; onShow?: () => void }> = [
      { id: 'jobs', el: jobs.el },
      ...(requests ? [{ id: 'requests' as TabId, el: requests.el, onShow: () => requests.show() }] : []),
      ...(board ? [{ id: 'board' as TabId, el: board.el, onShow: () => board.render() }] : []),
      { id: 'vehicles', el: vehiclesPanel.el, onShow: () => vehiclesPanel.render() },
      { id: 'alerts', el: alerts.el, onShow: () => {
        store.unreadAlerts = 0;
        store.emit('alerts');
      } },
      { id: 'zones', el: zones.el, onShow: () => void zones.loadHistory() },
      { id: 'places', el: places.el, onShow: () => void places.load() },
      ...(audit ? [{ id: 'audit' as TabId, el: audit.el, onShow: () => void audit.load() }] : []),
      ...(trainer ? [{ id: 'trainer' as TabId, el: trainer.el, onShow: () => void trainer.load() }] : []),
      { id: 'settings', el: settings.el },
    ];
    let active: TabId = me.role === 'trainer' ? 'trainer' : 'jobs';
    const renderTabs = () => {
      replaceChildren(tabsEl, tabs.map((tb) => {
        const badge = tb.id === 'alerts' && store.unreadAlerts > 0 ? h('span', { class: 'count', 'data-testid': 'alert-count' }, String(store.unreadAlerts)) : null;
        const b = h('button', { type: 'button', role: 'tab', id: `tab-${tb.id}`, 'data-testid': `tab-${tb.id}`, 'aria-selected': String(active === tb.id), tabindex: active === tb.id ? '0' : '-1' }, t(`tab.${tb.id}`), badge);
        b.addEventListener('click', () => selectTab(tb.id));
        b.addEventListener('keydown', (e) => {
          const i = tabs.findIndex((x) => x.id === tb.id);
          if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
            e.preventDefault();
            const n = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
            selectTab(n.id);
            document.getElementById(`tab-${n.id}`)?.focus();
          }
        });
        return b;
      }));
    };
    const selectTab = (id: TabId) => {
      active = id;
      vehiclesPanel.visible = id === 'vehicles';
      if (id !== 'requests') requests?.stop();
      if (board) board.visible = id === 'board';
      const tb = tabs.find((x) => x.id === id)!;
      replaceChildren(panelHost, tb.el);
      panelHost.setAttribute('aria-labelledby', `tab-${id}`);
      tb.onShow?.();
      renderTabs();
    };
    store.on('alerts', renderTabs);
    selectTab(active);

    // Link state in the header.
    const renderLink = (s: LinkStatus) => {
      linkEl.setAttribute('data-state', s.state);
      linkEl.className = `link-state ${s.state}`;
      const retry = s.state === 'offline' && s.retryInMs != null ? ` ${t('link.retry', { s: `${(s.retryInMs / 1000).toFixed(1)} s` })}` : '';
      linkEl.textContent = `${t(`link.${s.state}`)}${retry}`;
    };
    let lastLinkState = '';
    let lost = false;
    const onStatus = (s: LinkStatus) => {
      const prev = lastLinkState;
      lastLinkState = s.state;
      store.link = s;
      map.vehicles.setLinkLive(s.state === 'live');
      renderLink(s);
      store.emit('link');
      if ((prev === 'live' || prev === 'stale') && s.state === 'offline' && !lost) {
        lost = true;
        store.addAlert({ id: `link-${Date.now()}`, at: new Date().toISOString(), level: 'warning', text: t('link.lostAlert'), local: true });
      }
      if (lost && s.state === 'live') {
        lost = false;
        store.addAlert({ id: `link-${Date.now()}`, at: new Date().toISOString(), level: 'info', text: t('link.backAlert'), local: true });
        // Whatever changed while the link was down (jobs finished, zones edited, vehicles gone) is fetched again.
        void refresh();
        void readFleet();
      }
    };

    let knownIds = -1;
    const vanished = new Set<string>();
    const onMessage = (msg: ServerMessage) => {
      if (msg.type === 'frames') {
        if (!Array.isArray(msg.frames)) return;
        // A vanished vehicle's last (stale) frame, re-sent on a new subscription, does not bring it back; a live frame does.
        let frames = msg.frames;
        // The last frame of a vehicle the service no longer has (re-sent to a new subscriber) does not bring it back.
        const fleetIds = store.fleetIds;
        if (fleetIds) for (const f of frames) if (!fleetIds.has(f.id) && f.stale && !map.vehicles.get(f.id)) vanished.add(f.id);
        if (vanished.size) {
          frames = frames.filter((f) => {
            if (!vanished.has(f.id)) return true;
            if (f.stale) return false;
            vanished.delete(f.id);
            return true;
          });
        }
        map.vehicles.push(frames);
        trainer?.onFrames(msg.frames);
      } else if (msg.type === 'delivery' && msg.delivery?.id) {
        store.deliveries.set(msg.delivery.id, msg.delivery);
        store.emit('deliveries');
      } else if (msg.type === 'alert' && msg.alert) {
        store.addAlert(msg.alert);
      } else if (msg.type === 'zones' && Number.isInteger(msg.version)) {
        // A supervisor saved zones: every open map redraws (and open plans are checked again).
        if (!store.zones || msg.version > store.zones.version) void loadZones(msg.version);
      } else if (msg.type === 'traffic' && Array.isArray(msg.aircraft)) {
        map.traffic.update(msg.aircraft);
      } else if (msg.type === 'error') {
        toast(`${msg.code}: ${msg.message}`, 'error');
      }
    };
    const offVeh = map.vehicles.onChange(() => {
      if (map.vehicles.version !== knownIds) {
        knownIds = map.vehicles.version;
        // Nothing is selected for the operator: commands aim at what they chose (a job, a drone).
        if (store.selectedVehicle && !map.vehicles.get(store.selectedVehicle)) {
          store.selectedVehicle = null;
          store.emit('selection');
        }
        store.emit('vehicles');
      }
    });

    // The vehicles the service has: others (a replay that ended, a stopped simulator, anything from
    // before a restart) are forgotten, so they can neither be selected nor commanded.
    let fleetBusy = false;
    const readFleet = async () => {
      if (fleetBusy) return;
      fleetBusy = true;
      try {
        const list = await this.api.get<Array<{ id: string; simulated?: boolean }>>('/api/vehicles');
        if (!Array.isArray(list)) return;
        const ids = new Set(list.map((v) => v.id));
        for (const v of list) if (v.simulated) store.simVehicleIds.add(v.id);
        store.fleetIds = ids;
        for (const id of ids) vanished.delete(id);
        for (const id of map.vehicles.ids()) {
          if (!ids.has(id)) {
            vanished.add(id);
            map.vehicles.remove(id);
            store.statusBook.forget(id);
          }
        }
        store.emit('vehicles');
      } catch {
        /* offline: the link state says so; try again later */
      } finally {
        fleetBusy = false;
      }
    };
    void readFleet();
    const fleetTimer = setInterval(() => void readFleet(), 5000);

    const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const link = new LiveLink({
      url: wsUrl,
      subscribe: { type: 'subscribe', vehicles: 'all', deliveries: true, alerts: true, rateHz: 10 },
      expectingData: () => map.vehicles.size > 0,
      staleAfterMs: 5000,
      onStatus,
      onMessage,
      onClosed: async () => {
        // A closed socket after a restart is normal; a rejected session sends the user to the login screen.
        try {
          await this.api.get<Me>('/api/me');
          return true;
        } catch (e) {
          return !(e instanceof ApiError && e.status === 401);
        }
      },
    });
    link.start();

    let zonesLoading: Promise<void> | null = null;
    /** The newest zones version announced over /ws: loading goes on until the map has it. */
    let zonesWanted = 0;
    const loadZones = (announced = 0): Promise<void> => {
      zonesWanted = Math.max(zonesWanted, announced);
      zonesLoading ??= (async () => {
        try {
          for (let tries = 0; tries < 3; tries++) {
            const z = await this.api.get<ZonesDoc>('/api/zones');
            if (!store.zones || z.version !== store.zones.version) {
              store.zones = z;
              map.setZones(z.zones);
              store.emit('zones');
            }
            if (z.version >= zonesWanted) break;
          }
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 401)) toast(errorText(e), 'error');
        } finally {
          zonesLoading = null;
        }
      })();
      return zonesLoading;
    };
    const refresh = async () => {
      try {
        const list = await this.api.get<Delivery[]>('/api/deliveries');
        if (Array.isArray(list)) {
          for (const d of list) store.deliveries.set(d.id, d);
          store.emit('deliveries');
        }
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) toast(errorText(e), 'error');
      }
      await loadZones();
      try {
        // Kept by the service: a new login or a reload shows them again, an unacknowledged critical one in the banner.
        const [recent, open] = await Promise.all([
          this.api.get<Alert[]>('/api/alerts?limit=200'),
          this.api.get<Alert[]>('/api/alerts?unacked=true&level=critical&limit=100'),
        ]);
        store.loadAlerts([...(Array.isArray(recent) ? recent : []), ...(Array.isArray(open) ? open : [])]);
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) toast(errorText(e), 'error');
      }
      if (caps.train) await trainer?.load();
    };
    void refresh();

    const tick = setInterval(() => store.emit('tick'), 1000);
    const offLang = onLangChange(() => {
      langSel.value = getLang();
      renderTabs();
      renderLink(store.link);
      renderBase();
      header.querySelector('.role')!.textContent = ` · ${t(`role.${me.role}`)}`;
      map.relabel();
      (header.querySelector('[data-testid="logout"]') as HTMLElement).textContent = t('login.logout');
      store.emit('lang');
    });
    this.teardown.push(() => {
      link.stop();
      clearInterval(tick);
      clearInterval(fleetTimer);
      offLang();
      offVeh();
      map.vehicles.destroy();
      map.map.remove();
    });
  }

  private async logout(): Promise<void> {
    try {
      await this.api.post('/api/logout', {});
    } catch {
      /* logged out locally anyway */
    }
    this.api.token = null;
    this.leave();
    this.showLogin();
  }
}
