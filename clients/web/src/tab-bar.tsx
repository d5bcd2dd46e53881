import { Icon, type IconName } from './icons';
import type { Route } from './route';

const TABS: readonly { readonly view: Route['view']; readonly href: string; readonly label: string; readonly icon: IconName }[] = [
  { view: 'home', href: '#/', label: 'Home', icon: 'home' },
  { view: 'notifications', href: '#/notifications', label: 'Notifications', icon: 'bell' },
  { view: 'following', href: '#/following', label: 'Following', icon: 'people' },
];

/** On a phone (styles.css shows it under 720 px): the three sections, one at a time, at the thumb. */
export function TabBar({ view, unread }: { view: Route['view']; unread: number }) {
  // A thread is reached from the feed: Home stays the current tab.
  const current = view === 'status' ? 'home' : view;
  return (
    <nav className="tab-bar" id="tabs" aria-label="Sections" tabIndex={-1}>
      {TABS.map((tab) => (
        <a key={tab.view} href={tab.href} aria-current={tab.view === current ? 'page' : undefined}>
          <span className="tab-icon">
            <Icon name={tab.icon} />
            {tab.view === 'notifications' && unread > 0 && (
              <span className="bell-count" aria-label={`${unread} unread`}>
                {unread > 99 ? '99+' : unread}
              </span>
            )}
          </span>
          <span className="tab-label">{tab.label}</span>
        </a>
      ))}
    </nav>
  );
}
