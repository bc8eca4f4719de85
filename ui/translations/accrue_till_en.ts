<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
<context>
    <name>QObject</name>
    <message>
        <source>never</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>%n s ago</source>
        <translation>
            <numerusform>%n s ago</numerusform>
            <numerusform>%n s ago</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n min ago</source>
        <translation>
            <numerusform>%n min ago</numerusform>
            <numerusform>%n min ago</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n h ago</source>
        <translation>
            <numerusform>%n h ago</numerusform>
            <numerusform>%n h ago</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n days ago</source>
        <translation>
            <numerusform>%n day ago</numerusform>
            <numerusform>%n days ago</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>accrue::till::AgentConnection</name>
    <message>
        <source>Not connected to the loyalty service.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The connection to the loyalty service was lost.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The loyalty service is not reachable.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The loyalty service did not answer in time.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>accrue::till::CouponDialog</name>
    <message>
        <source>Coupon</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Scan the coupon, or type its code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>On this sale:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Take off the sale</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Apply</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Her rewards:</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>%1: %2 points</source>
        <translation>
            <numerusform>%1: %2 point</numerusform>
            <numerusform>%1: %2 points</numerusform>
        </translation>
    </message>
    <message>
        <source>No rewards to show.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Identify the member to see her rewards.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Claim for her</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Claimed: hand over %1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Claimed: %1. Her coupon reaches her app when the store is back online.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Claimed: %1. Coupon code %2</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>accrue::till::EnrollDialog</name>
    <message>
        <source>Enroll a new member</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>First name or nickname</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>+48 600 000 000</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>name@example.com</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Scan or type the new card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Accepts the programme&apos;s terms (required)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Offers by e-mail</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Offers by text message</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Phone</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>E-mail</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Card</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enroll</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>accrue::till::LoyaltyPanel</name>
    <message>
        <source>Scan the card, or type phone, e-mail or card number</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Identify (F2)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Redeem (F6)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enroll (F7)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Clear (Esc)</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>%1 points redeemed: %2 off this sale.</source>
        <translation>
            <numerusform>%1 point redeemed: %2 off this sale.</numerusform>
            <numerusform>%1 points redeemed: %2 off this sale.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%1 points added.</source>
        <translation>
            <numerusform>%1 point added.</numerusform>
            <numerusform>%1 points added.</numerusform>
        </translation>
    </message>
    <message>
        <source>Enrolled. The card works now; the membership is confirmed when the store is online.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enrolled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No points available to redeem.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>%1 points available: not enough to redeem here now.</source>
        <translation>
            <numerusform>%1 point available: not enough to redeem here now.</numerusform>
            <numerusform>%1 points available: not enough to redeem here now.</numerusform>
        </translation>
    </message>
    <message>
        <source>No customer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Looking up…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>✔ New member (pending confirmation)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>✔ Member</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>? Not a member</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>✖ BLOCKED</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1 reached</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Confirmed when the store is online</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>%1 points</source>
        <translation>
            <numerusform>%1 point</numerusform>
            <numerusform>%1 points</numerusform>
        </translation>
    </message>
    <message>
        <source>Enroll the customer with F7, or go on without points.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This card cannot earn or redeem points. Refer the customer to customer service.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>+ %1 pending</source>
        <translation>
            <numerusform>+ %1 pending</numerusform>
            <numerusform>+ %1 pending</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%1 points expire on %2</source>
        <translation>
            <numerusform>%1 point expires on %2</numerusform>
            <numerusform>%1 points expire on %2</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>As a member, this sale would earn %1 points</source>
        <translation>
            <numerusform>As a member, this sale would earn %1 point</numerusform>
            <numerusform>As a member, this sale would earn %1 points</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>This sale earns %1 points</source>
        <translation>
            <numerusform>This sale earns %1 point</numerusform>
            <numerusform>This sale earns %1 points</numerusform>
        </translation>
    </message>
    <message>
        <source>Loyalty service not running on this till: trying again…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Offline: points are kept and sent later. Last sync %1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>%1 events waiting.</source>
        <translation>
            <numerusform>%1 event waiting.</numerusform>
            <numerusform>%1 events waiting.</numerusform>
        </translation>
    </message>
    <message>
        <source>%1 (−%2)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: one item of line %2 free</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: points ×%2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>%1: hand over %2</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Coupon (F8)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Coupon applied (store offline: confirmed later).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Coupon applied.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This member is blocked: coupons cannot be used.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>%n coupons on this sale (F8 lists them)</source>
        <translation>
            <numerusform>%n coupon on this sale (F8 lists it)</numerusform>
            <numerusform>%n coupons on this sale (F8 lists them)</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>accrue::till::RedeemDialog</name>
    <message>
        <source>Redeem points</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>Available: %1 points</source>
        <translation>
            <numerusform>Available: %1 point</numerusform>
            <numerusform>Available: %1 points</numerusform>
        </translation>
    </message>
    <message>
        <source> points</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Redeem</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>Redeem in steps of %1 points.</source>
        <translation>
            <numerusform>Redeem in steps of %1 point.</numerusform>
            <numerusform>Redeem in steps of %1 points.</numerusform>
        </translation>
    </message>
    <message>
        <source>Discount: %1</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>accrue::till::TillSession</name>
    <message>
        <source>The loyalty service refused the request.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enter the number of points to redeem.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The customer has to accept the programme&apos;s terms.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enter a card number, a phone number or an e-mail address.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>Not enough points: %1 available.</source>
        <translation>
            <numerusform>Not enough points: %1 available.</numerusform>
            <numerusform>Not enough points: %1 available.</numerusform>
        </translation>
    </message>
    <message>
        <source>No member with this card: nothing to redeem.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This member is blocked: points cannot be redeemed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>Redeem at least %1 points.</source>
        <translation>
            <numerusform>Redeem at least %1 point.</numerusform>
            <numerusform>Redeem at least %1 points.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>Redeem at most %1 points at once.</source>
        <translation>
            <numerusform>Redeem at most %1 point at once.</numerusform>
            <numerusform>Redeem at most %1 points at once.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>Redeem in steps of %1 points.</source>
        <translation>
            <numerusform>Redeem in steps of %1 point.</numerusform>
            <numerusform>Redeem in steps of %1 points.</numerusform>
        </translation>
    </message>
    <message>
        <source>Points cannot be redeemed in %1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The loyalty service did not answer, and the store&apos;s offline rules do not allow this redemption. No points were redeemed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Points cannot be redeemed while the store is offline.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Points cannot be redeemed offline: this store has not synced yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>Points cannot be redeemed offline: the store has been offline for more than %n hours.</source>
        <translation>
            <numerusform>Points cannot be redeemed offline: the store has been offline for more than %n hour.</numerusform>
            <numerusform>Points cannot be redeemed offline: the store has been offline for more than %n hours.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>While offline, at most %1 points can be redeemed at once.</source>
        <translation>
            <numerusform>While offline, at most %1 point can be redeemed at once.</numerusform>
            <numerusform>While offline, at most %1 points can be redeemed at once.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>While offline, this member can redeem %1 more points today.</source>
        <translation>
            <numerusform>While offline, this member can redeem %1 more point today.</numerusform>
            <numerusform>While offline, this member can redeem %1 more points today.</numerusform>
        </translation>
    </message>
    <message>
        <source>The store&apos;s offline redemption limit is reached: try again when online.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Redemption %1 is not on this till: it cannot pay for this sale.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Redemption %1 was made for another member.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Redemption %1 already paid for another sale.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This member is blocked: no points can be earned.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The programme gives no points for sales in %1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Line %1: %2 returned, only %3 left to return.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This return cannot be made.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This is not a coupon code; check it and try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon cannot be checked at this store yet; try again when online.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon is not valid.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon has expired.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon expired on %1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon has already been used or was cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon has already been used in this store.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon&apos;s reward is not in the programme this store runs yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon belongs to a member: identify the member first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon belongs to another member.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This member is blocked: coupons cannot be used.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon cannot be used in %1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The basket has none of the items this coupon makes free.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon was taken off the sale already.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This store cannot accept more coupons until it is back online.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Scan or type the coupon&apos;s code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Scan the items first: a coupon applies to a basket.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This coupon needs a basket of at least %1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This reward cannot be claimed yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This reward can no longer be claimed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This reward is for members of another tier.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This reward is not offered to this member.</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <source>This reward can be claimed %n time(s) per member.</source>
        <translation>
            <numerusform>This reward can be claimed %n time per member.</numerusform>
            <numerusform>This reward can be claimed %n times per member.</numerusform>
        </translation>
    </message>
    <message>
        <source>This reward is out of stock.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No member with this card: there are no rewards to show.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This member is blocked: rewards cannot be claimed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This reward is not in the programme this store runs.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The loyalty service did not answer. Claim it again: nothing is claimed twice.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This reward can be claimed only while the store is online.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This store cannot issue more rewards until it is back online.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Identify the member first: a reward is claimed for her.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This claim was given up when the loyalty service did not answer. If it was booked, the coupon is in her app; claim again to try anew.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
