package dev.sluice.audit;

import dev.sluice.config.Location;

/**
 * One audit finding: a rule's verdict about one place in the configuration.
 *
 * @param code stable identifier ({@code SL001}); what {@code acknowledge:} lists
 * @param severity how much it matters
 * @param title one line: the rule's name and what, specifically, it found
 * @param location where the finding points: where its target is written, or a place inside it
 * @param target the object the finding is about (a listener, pool, backend, profile, admin)
 * @param pitfall the seed pitfall it belongs to
 * @param explanation why it matters, in the seed's terms
 * @param fix what to change
 * @param acknowledged whether the code is in the {@code acknowledge} list of {@code target} or of
 *     an object enclosing it; acknowledged findings do not affect the exit status
 */
public record Finding(
    String code,
    Severity severity,
    String title,
    Location location,
    Target target,
    Pitfall pitfall,
    String explanation,
    String fix,
    boolean acknowledged) {}
