package dev.sluice.audit;

import dev.sluice.config.AdminConfig;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HealthProfile;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.Location;
import dev.sluice.config.LogConfig;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.ResolverConfig;
import dev.sluice.config.SluiceConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * The configuration object a finding is about: the {@code admin} section, a health profile, a pool,
 * a backend of a pool or a listener. Its {@code acknowledge} list, or that of an object enclosing it
 * (a backend's pool), silences the finding. Every rule names the target of each finding it makes,
 * so the audit knows what an acknowledgement applies to without reading titles.
 *
 * @param kind what sort of object it is
 * @param name its name (a backend's name within its pool; {@code admin} for the admin section)
 * @param enclosing the object it belongs to (a backend's pool), or null
 * @param location where it is written
 * @param acknowledge its own {@code acknowledge} list: each code with where it is written
 */
public record Target(Kind kind, String name, Target enclosing, Location location, Map<String, Location> acknowledge) {

  /** The sorts of objects that may carry {@code acknowledge}. */
  public enum Kind {
    ADMIN("the admin section"),
    LOG("the log section"),
    RESOLVER("the resolver section"),
    HEALTH_PROFILE("health profile"),
    POOL("pool"),
    BACKEND("backend"),
    LISTENER("listener");

    private final String label;

    Kind(String label) {
      this.label = label;
    }

    /** How findings name the kind: {@code health profile}. */
    public String label() {
      return label;
    }
  }

  static Target admin(AdminConfig a) {
    return new Target(Kind.ADMIN, "admin", null, a.location(), a.acknowledge());
  }

  static Target log(LogConfig l) {
    return new Target(Kind.LOG, "log", null, l.location(), l.acknowledge());
  }

  static Target resolver(ResolverConfig r) {
    return new Target(Kind.RESOLVER, "resolver", null, r.location(), r.acknowledge());
  }

  static Target profile(HealthProfile p) {
    return new Target(Kind.HEALTH_PROFILE, p.name(), null, p.location(), p.acknowledge());
  }

  static Target pool(PoolConfig p) {
    return new Target(Kind.POOL, p.name(), null, p.location(), p.acknowledge());
  }

  static Target backend(PoolConfig pool, BackendConfig b) {
    return new Target(Kind.BACKEND, b.name(), pool(pool), b.location(), b.acknowledge());
  }

  static Target listener(ListenerConfig l) {
    return new Target(Kind.LISTENER, l.name(), null, l.location(), l.acknowledge());
  }

  /** Every object of {@code c} that may carry {@code acknowledge}, section by section, each in file order. */
  static List<Target> all(SluiceConfig c) {
    List<Target> out = new ArrayList<>();
    out.add(admin(c.admin()));
    out.add(log(c.log()));
    out.add(resolver(c.resolver()));
    c.health().values().forEach(p -> out.add(profile(p)));
    for (PoolConfig p : c.pools().values()) {
      out.add(pool(p));
      p.backends().forEach(b -> out.add(backend(p, b)));
    }
    c.listeners().values().forEach(l -> out.add(listener(l)));
    return out;
  }

  /** Whether {@code other} is this object or one enclosing it: an acknowledgement there applies here. */
  boolean within(Target other) {
    return scopes().anyMatch(other::equals);
  }

  /** Whether this object's {@code acknowledge}, or that of an object enclosing it, names {@code code}. */
  boolean acknowledges(String code) {
    return scopes().anyMatch(t -> t.acknowledge.containsKey(code));
  }

  /** This object, then each object enclosing it. */
  private Stream<Target> scopes() {
    return Stream.iterate(this, Objects::nonNull, Target::enclosing);
  }

  /** {@code listener 'internet'}, {@code backend server1 of pool 'hub'}, {@code the admin section}. */
  @Override
  public String toString() {
    return switch (kind) {
      case ADMIN, LOG, RESOLVER -> kind.label();
      case BACKEND -> kind.label() + " " + name + " of " + enclosing;
      default -> kind.label() + " " + Rule.q(name);
    };
  }
}
